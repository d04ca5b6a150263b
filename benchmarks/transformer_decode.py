"""Transformer rollouts: KV-cache decoding vs full-prefix recomputation vs NumPy, a thin wrapper of :mod:`rmft_jax.bench`.

    python benchmarks/transformer_decode.py [--quick] [--out FILE.json]

The measurement lives in :func:`rmft_jax.bench.bench_transformer` (``rmft bench``
runs it with everything else); this script runs only that part.
"""

from __future__ import annotations

import argparse
import json

from rmft_jax import bench
from rmft_jax.results import save_json


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (rmft_jax.bench.QUICK)")
    ap.add_argument("--out", default=None, help="JSON results file (overwritten)")
    args = ap.parse_args(argv)
    res = bench.bench_transformer(bench.QUICK if args.quick else bench.FULL)
    keys = ("decode_vs_recompute", "transformer_vs_numpy", "fraction_of_matmul_peak")
    print(json.dumps({k: res[k] for k in keys}, indent=1))
    if args.out:
        save_json(args.out, res, overwrite=True)
    return res


if __name__ == "__main__":
    main()
