"""`rmft figure ablation`: see :mod:`rmft_jax.experiments` for what it runs and saves.

Usage: python experiments/collapse_ablation.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "ablation", *sys.argv[1:]]))
