"""Unit tests of the Slack face's pure parts: Block Kit rendering and forms."""
