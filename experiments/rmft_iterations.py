"""`rmft figure iterations`: see :mod:`rmft_jax.experiments` for what it runs and saves.

Usage: python experiments/rmft_iterations.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "iterations", *sys.argv[1:]]))
