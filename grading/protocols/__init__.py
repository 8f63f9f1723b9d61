"""Protocol files shipped with toxbot: ``default.yaml``, the default CRS/ICANS protocol.

This package holds data only. ``bot.protocol_files`` reads the files (through
``importlib.resources``, so it works from a wheel as well as a checkout); ``grading`` itself never
reads files (design §1).
"""
