"""toxbot's application core: settings, services, the CLI and the composition root."""

__version__ = "0.1.0"
