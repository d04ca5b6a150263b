"""`rmft figure generalist`: see :mod:`rmft_jax.experiments.generalist` for what it runs and saves.

Usage: python experiments/generalist.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "generalist", *sys.argv[1:]]))
