"""`rmft figure paradigms`: see :mod:`rmft_jax.experiments.paradigms` for what it runs and saves.

Usage: python experiments/paradigms.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "paradigms", *sys.argv[1:]]))
