"""Redraw ``figures/cost_curves.png/.pdf`` from a saved ``rmft bench`` result (no re-measuring).

    python benchmarks/cost_curves.py figures/cost_curves.json [--out figures/cost_curves]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rmft_jax import bench, results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="a bench JSON with cost curves (rmft bench, full mode)")
    ap.add_argument("--out", default="figures/cost_curves", help="output stem (.png and .pdf)")
    args = ap.parse_args(argv)
    stem = Path(args.out)
    bench.plot_cost_curves(results.load_json(args.results), [stem.with_suffix(".png"), stem.with_suffix(".pdf")])


if __name__ == "__main__":
    main()
