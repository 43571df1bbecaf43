#!/usr/bin/env bash
# What the untrusted-candidates work (issue 20) needs from a GPU, in one device call of < 10 minutes:
#   1. the GPU tests of the sandboxed evaluator (tests/test_gpu_hostile.py) and the hostile set (tests/hostile/)
#      through check and bench beside the honest deliverable;
#   2. the evaluator's effect on an honest per-call figure, and its causes (benchmarks/evaluator_overhead.py).
# Usage on the device machine, from the checkout:  bash benchmarks/untrusted_gpu_run.sh RESULTS
set -uo pipefail
out=${1:?results folder}
export PYTHONPATH=src PYTHONUNBUFFERED=1
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version --format=csv > "$out/device.txt"
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> "$out/device.txt"
git log -1 --format='%H %s' >> "$out/device.txt" 2>/dev/null
TRITON_INTERPRET=0 timeout 150 python -m pytest -q tests/test_gpu_hostile.py > "$out/gpu-tests.txt" 2>&1
timeout 300 python benchmarks/hostile_run.py "$out/hostile" --calls 8 > "$out/hostile.log" 2>&1

