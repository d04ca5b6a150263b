import sys

from rmft_jax.cli import main

sys.exit(main())
