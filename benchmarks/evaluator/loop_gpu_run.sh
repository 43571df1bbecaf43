#!/usr/bin/env bash
# The loop as a search on GPUs (issue 21): problem 22 from the seed's code, a scripted agent that thinks for
# DELAY seconds per answer (as a model endpoint would) and answers, in turn, with a retiled seed, lsemish's own
# deliverable, a wrong candidate, a non-Python block, and three cheating candidates (tests/hostile/), 3 rounds x 4
# samples on every GPU; then the same agent with --samples 1 on one GPU. SEED is the seed's current_code.py (carry it).
# Usage on the device machine, from the checkout:  bash benchmarks/evaluator/loop_gpu_run.sh $OUT SEED [DELAY]
# RUNS: which of "samples4 samples1" to run (both); LOOP_TIMEOUT: each run's limit in s (270); STEP_TIMEOUT: the
# loop's --step-timeout (its default). Every candidate's step outputs (lint, check, bench, profile) come back in steps.tgz.
set -uo pipefail
out=${1:?results folder}
seed=${2:?the current_code.py of the seed}
delay=${3:-20}
export PYTHONPATH=src PYTHONUNBUFFERED=1
mkdir -p "$out"
work=$(mktemp -d)
cp "$seed" "$work/seed.py"
sed 's/BLOCK_M=64, BLOCK_N=64, BLOCK_K=32/BLOCK_M=128, BLOCK_N=128, BLOCK_K=32/' "$work/seed.py" > "$work/seed_tiled.py"
cmp -s "$work/seed.py" "$work/seed_tiled.py" && { echo "the seed's tile sizes were not found"; exit 2; }
python -m lsemish emit > "$work/lsemish.py"
python - "$work" <<'PY'
import sys
sys.path.insert(0, "tests")
import hostile_set
from lsemish import deliverable_source
for name in ("stale_answers", "input_memo", "lookahead"):
    hostile_set.compose(name, deliverable_source(), f"{sys.argv[1]}/{name}.py")
PY
steps="$work/seed_tiled.py $work/lsemish.py tests/fixtures/wrong_candidate.py garbage \
$work/stale_answers.py $work/lookahead.py $work/seed_tiled.py nocode \
$work/input_memo.py $work/lsemish.py $work/seed.py $work/lsemish.py"
nvidia-smi --query-gpu=name,driver_version --format=csv > "$out/device.txt"
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> "$out/device.txt"
for run in ${RUNS:-samples4 samples1}; do
  if [ $run = samples4 ]; then extra="--samples 4 --gpus all"; else extra="--samples 1 --gpus 0"; fi
  rm -f "$work/state-$run"
  start=$(date +%s.%N)
  timeout ${LOOP_TIMEOUT:-270} python -m lsemish loop --agent "python tests/fixtures/agent.py $work/state-$run --delay $delay $steps" \
    --rounds 3 $extra --trials 1 ${STEP_TIMEOUT:+--step-timeout $STEP_TIMEOUT} --candidate "$work/seed.py" --out "$work/$run" > "$out/log-$run.txt" 2>&1
  rc=$?; echo "rc $rc wall $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s ($extra, delay $delay s)" > "$out/wall-$run.txt"
  mkdir -p "$out/$run"
  cp "$work/$run/summary.md" "$work/$run/summary.json" "$work/$run/summary.png" "$out/$run/" 2>/dev/null
  cp "$work/$run/state.json" "$out/$run/" 2>/dev/null
  (cd "$work/$run" && find . -name "*.txt" -size -2M | tar czf "$out/$run/steps.tgz" -T -)
done
