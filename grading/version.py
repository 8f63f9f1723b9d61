"""The grading engine's version, stored with every grade so a past grade can be explained later.

Bump it whenever a rule, a threshold or the wording of a criterion changes.
"""

ENGINE_VERSION = "toxbot-grading 1.0.0 (ASTCT 2019)"
