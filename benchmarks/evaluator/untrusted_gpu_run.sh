#!/usr/bin/env bash
# What the untrusted-candidates work (issue 20) needs from a GPU, in one device call of < 10 minutes:
#   1. the evaluator's effect on an honest per-call figure, and its causes (benchmarks/evaluator/evaluator_overhead.py);
#   2. the GPU tests of the sandboxed evaluator (tests/test_gpu_hostile.py);
#   3. the hostile classes that only timing shows through bench beside the honest deliverable (hostile_run.py).
# Usage on the device machine, from the checkout:  bash benchmarks/evaluator/untrusted_gpu_run.sh RESULTS [ROUNDS]
# Time limits (s): OVERHEAD_TIMEOUT (280), TESTS_TIMEOUT (400; 0 skips the GPU tests: they build a CUDA extension and
# compile with inductor too), HOSTILE_TIMEOUT (280).
set -uo pipefail
out=${1:?results folder}
rounds=${2:-3}
export PYTHONPATH=src PYTHONUNBUFFERED=1 TRITON_INTERPRET=0
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version --format=csv > "$out/device.txt"
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> "$out/device.txt"
timeout ${OVERHEAD_TIMEOUT:-280} python benchmarks/evaluator/evaluator_overhead.py "$out" --rounds "$rounds" > "$out/overhead.log" 2>&1
if [ "${TESTS_TIMEOUT:-400}" != 0 ]; then
  timeout ${TESTS_TIMEOUT:-400} python -m pytest -q -rA --tb=short tests/test_gpu_hostile.py > "$out/gpu-tests.txt" 2>&1
fi
timeout ${HOSTILE_TIMEOUT:-280} python benchmarks/evaluator/hostile_run.py "$out/hostile" --calls 8 --no-check \
  --only side_stream,output_reuse,stale_answers,input_memo,lookahead,timer_patch,lazy_fetch,worker_timer,empty_inflate,empty_inflate_quiet,timer_shave,timer_shave_single,timed_low_precision,profile_hook,queued_precompute,function_mode,unix_socket \
  > "$out/hostile.log" 2>&1
