#!/usr/bin/env bash
# What the untrusted-candidates work (issues 20, 21, 26) still needs from a GPU, in one device call of <= 10 minutes:
#   1. the GPU tests of the sandboxed evaluator (tests/test_gpu_hostile.py) and the hostile set through check+bench
#      with the final sandbox (capabilities dropped, narrowed device files, seccomp additions);
#   2. the evaluator's effect on an honest per-call figure;
#   3. a sample of official KernelBench problems with their own reference as candidate (KB_DIR must be carried:
#      clone ScalingIntelligence/KernelBench into an ignored folder and name it in `carry`).
# Usage on the device machine, from the checkout:  bash benchmarks/untrusted_gpu_run.sh $OUT [KB_DIR]
set -uo pipefail
out=${1:?results folder}
kb=${2:-}
export PYTHONPATH=src PYTHONUNBUFFERED=1
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version --format=csv > "$out/device.txt"
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> "$out/device.txt"
timeout 200 python -m pytest -q tests/test_gpu_hostile.py 2>&1 | tail -15 > "$out/gpu-tests.txt"
timeout 220 python benchmarks/hostile_run.py "$out/hostile" --calls 8 2>&1 | tail -40 > "$out/hostile.log"
timeout 100 python benchmarks/evaluator_overhead.py "$out/overhead" --rounds 3 2>&1 | tail -5 > "$out/overhead.log"
if [ -n "$kb" ]; then
  timeout 120 python benchmarks/official_problems.py "$kb" "$out/official" --jobs 8 --trials 1 --timeout 100 \
    --only "level1/19_,level1/21_,level1/23_,level1/32_,level1/35_,level1/36_,level2/22_" 2>&1 | tail -12 \
    > "$out/official.log"
fi
