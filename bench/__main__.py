"""``python -m bench``: run toxbot's benchmarks and print tables of figures (``make bench``)."""

import sys

from bench.grading_bench import main
from bench.slack_bench import main as slack_main

sys.exit(main() or slack_main(sys.argv[1:]))
