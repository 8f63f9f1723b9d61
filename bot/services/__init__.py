"""toxbot's use cases: every front end (Slack, console, CLI) calls these."""
