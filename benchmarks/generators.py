"""The generator table (bulk draws and baseline rollouts per typed-key implementation), a thin wrapper of :mod:`rmft_jax.bench`.

    python benchmarks/generators.py [--quick] [--out FILE.json]

The measurement lives in :func:`rmft_jax.bench.bench_generators` (``rmft bench``
runs it with everything else); this script runs only that part and prints its table.
"""

from __future__ import annotations

import argparse

from rmft_jax import bench
from rmft_jax.bench.report import generator_table
from rmft_jax.results import save_json


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (rmft_jax.bench.QUICK)")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file (overwritten)")
    args = parser.parse_args(argv)
    res = bench.bench_generators(bench.QUICK if args.quick else bench.FULL)
    print("\n".join(generator_table(res)))
    if args.out:
        save_json(args.out, res, overwrite=True)
    return res


if __name__ == "__main__":
    main()
