"""Slack-facing tests: Block Kit validation helpers and scenario tests against a fake Slack."""
