"""`rmft figure generalist-ablation`: see :mod:`rmft_jax.experiments.generalist_ablation` for what it runs and saves.

Usage: python experiments/generalist_ablation.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "generalist-ablation", *sys.argv[1:]]))
