"""`rmft figure fig2`: see :mod:`rmft_jax.experiments` for what it runs and saves.

Usage: python experiments/fig2_horizon_generalization.py [--quick] [--out DIR] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["figure", "fig2", *sys.argv[1:]]))
