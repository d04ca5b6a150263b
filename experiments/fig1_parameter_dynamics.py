"""Figure 1 (our reconstruction): parameter dynamics of the single-layer LSA, Env I and Env II.

A thin wrapper around ``rmft theory`` (:func:`rmft_jax.theory.run_theory`), so the
script and the CLI share one code path::

    python experiments/fig1_parameter_dynamics.py [--quick] [--out figures] [--overwrite]
"""

import sys

from rmft_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["theory", *sys.argv[1:]]))
