"""`rmft figure online`: see :mod:`rmft_jax.experiments` for what it runs and saves.

Usage: python experiments/online_learning.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "online", *sys.argv[1:]]))
