"""The Slack face of toxbot: thin bolt listeners (built in a later issue)."""
