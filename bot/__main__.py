"""``python -m bot`` runs the toxbot command line."""

import sys

from bot.cli import main

sys.exit(main())
