"""`rmft figure baselines`: UCB, Thompson sampling and Greedy on a Bernoulli and a Gaussian instance.

Usage: python experiments/baselines_table.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "baselines", *sys.argv[1:]]))
