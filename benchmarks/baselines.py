"""Baseline rollouts (UCB, Gaussian Thompson) against the NumPy reference: a thin wrapper of :mod:`rmft_jax.bench`.

    python benchmarks/baselines.py [--quick] [--out FILE.json]

The measurement lives in :func:`rmft_jax.bench.bench_baselines` (``rmft bench``
runs it with everything else); this script runs only that part.
"""

from __future__ import annotations

import argparse
import json

from rmft_jax import bench
from rmft_jax.results import save_json


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (rmft_jax.bench.QUICK)")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file (overwritten)")
    args = parser.parse_args(argv)
    res = bench.bench_baselines(bench.QUICK if args.quick else bench.FULL)
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=1))
    if args.out:
        save_json(args.out, res, overwrite=True)
    return res


if __name__ == "__main__":
    main()
