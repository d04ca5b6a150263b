"""`rmft figure nonstationary`: see :mod:`rmft_jax.experiments.nonstationary` for what it runs and saves.

Usage: python experiments/nonstationary.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "nonstationary", *sys.argv[1:]]))
