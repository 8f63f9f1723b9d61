"""The Slack face of toxbot: thin bolt listeners, one module per surface.

``commands`` (``/tox``), ``messages`` (channel messages and mentions), ``views`` (form
submissions), ``actions`` (buttons), ``home`` (the App Home), ``middleware`` (the actor and
event dedupe), ``errors`` (the error handler); ``blocks`` and ``forms`` render Block Kit;
``delivery`` sends everything that is not the acknowledgement, off the hot path. Only
``bot.app.create_app`` wires them.
"""
