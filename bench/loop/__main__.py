"""`python -m bench.loop`: see bench/loop/cli.py."""

import sys

from bench.loop.cli import main

sys.exit(main())
