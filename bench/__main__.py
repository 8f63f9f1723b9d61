"""``python -m bench``: run toxbot's benchmarks and print tables of figures (``make bench``)."""

import sys

from bench.grading_bench import main
from bench.reminders_bench import main as reminders_main
from bench.slack_bench import main as slack_main

sys.exit(main() or slack_main(sys.argv[1:]) or reminders_main(sys.argv[1:]))
