#!/usr/bin/env bash
# A suite of 10 problems through the loop on a GPU machine (issue 25): the six problems of this folder, the three
# examples of src/lsemish/problems/ and problem 22, each starting from its right candidate (this folder's
# candidates/, tests/fixtures/candidates/*_right.py, lsemish's deliverable) with agent.py answering the same kernel
# again; ROUNDS rounds, then `report`. Run once with every GPU and once with GPU 0 for the wall times.
# Usage on the device machine, from the checkout:  bash benchmarks/suite/run.sh RESULTS [ROUNDS]
# Environment: GPU_SETS ("all 0": the --gpus values, one run each), LOOP_TIMEOUT (280 s per run), SUITE_WORK (the
# work folder, default a fresh temporary one: give the same one again to resume runs cut by LOOP_TIMEOUT).
set -uo pipefail
out=${1:?results folder}
rounds=${2:-1}
export PYTHONPATH=src PYTHONUNBUFFERED=1
here=benchmarks/suite
work=${SUITE_WORK:-$(mktemp -d)}
mkdir -p "$work/problems" "$work/candidates" "$out"
cp $here/problems/*.py "$work/problems/"
cp $here/candidates/*.py "$work/candidates/"
for name in matmul gemm_gelu_bias row_softmax_mean; do
  cp src/lsemish/problems/$name.py "$work/problems/"
  cp tests/fixtures/candidates/${name}_right.py "$work/candidates/$name.py"
done
cp src/lsemish/problems/problem22.py "$work/problems/"
python -m lsemish emit > "$work/candidates/problem22.py"
nvidia-smi --query-gpu=name,driver_version --format=csv > "$out/device.txt"
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> "$out/device.txt"
for gpus in ${GPU_SETS:-all 0}; do
  start=$(date +%s.%N)
  timeout ${LOOP_TIMEOUT:-280} python -m lsemish loop --agent "python $here/agent.py $work/candidates" --rounds "$rounds" --trials 1 \
    --problems "$work/problems" --candidates "$work/candidates" --gpus $gpus --out "$work/gpus-$gpus" \
    > "$out/log-gpus-$gpus.txt" 2>&1
  rc=$?; echo "rc $rc wall $(python -c "import time; print(round(time.time() - $start, 1))") s (--gpus $gpus)" > "$out/wall-gpus-$gpus.txt"
  cp "$work/gpus-$gpus/suite.md" "$out/suite-gpus-$gpus.md" 2>/dev/null
  tar czf "$out/run-gpus-$gpus.tgz" -C "$work" "gpus-$gpus" 2>/dev/null
done
