"""``python -m bench``: run toxbot's benchmarks and print tables of figures (``make bench``)."""

import sys

from bench.grading_bench import main

sys.exit(main())
