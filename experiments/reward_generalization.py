"""`rmft figure reward-generalization`: see :mod:`rmft_jax.experiments` for what it runs and saves.

Usage: python experiments/reward_generalization.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "reward-generalization", *sys.argv[1:]]))
