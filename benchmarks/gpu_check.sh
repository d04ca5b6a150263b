#!/usr/bin/env bash
# The device check for a lent accelerator, as one short script (issue 5, point 4):
# the full `rmft bench` table on the accelerator, with the throughput at 2^16
# rollouts and the sharded-vs-plain ratio, without the cost curves.
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh
#
# Runs from the repository root of a source tree (no install needed: PYTHONPATH=.)
# and writes OUT/devices.txt, OUT/bench.json, OUT/bench.md and OUT/bench.log.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
python -c "import jax; print(jax.__version__, jax.default_backend(), jax.devices())" | tee "$OUT/devices.txt"
python -m rmft_jax bench --out "$OUT/bench.json" --curves no --overwrite 2>&1 | tee "$OUT/bench.log"
