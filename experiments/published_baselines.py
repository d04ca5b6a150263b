"""`rmft figure published-baselines`: Krishnamurthy et al.'s (2024) published UCB, Thompson sampling and
Greedy statistics on their easy and hard Bernoulli instances, reproduced with the best arm at index 2.

Usage: python experiments/published_baselines.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "published-baselines", *sys.argv[1:]]))
