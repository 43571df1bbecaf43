#!/usr/bin/env bash
# Session 5 H100 runs (repo root, PYTHONPATH=src; results under $OUT):
#   1: GPU tests; host path: bench at small shapes against the session-4 module (a copy of
#      src/lsemish/model_new.py at a1bc206 in the ignored, carried .seed/model_session4.py); the read roofline at
#      small M; cProfile of the hot path.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
if [ "${1:-1}" = 1 ]; then
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$O/device.txt"
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -15 | tee "$O/gpu-tests.txt"
  python3 -m lsemish bench --shapes 16,1024,1024 333,1000,3000 16,8192,8192 headline --precision tf32 \
    --candidate .seed/model_session4.py:session4 --out "$O/host" 2>&1 | tail -30 | tee "$O/host-log.txt"
  python3 benchmarks/read_roofline.py "$O/roofline.json" 2>&1 | tee "$O/roofline.txt"
  python3 benchmarks/host_profile.py 16,1024,1024 > "$O/host-profile.txt" 2>&1
fi
if [ "${1:-1}" = 2 ]; then
  # 2: the split-K kernel: GPU tests, then its config sweep at small M (run at 8bfa023: the kernel and
  #    sweep_split.py were replaced by the few-rows kernel and sweep_few.py afterwards).
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/gpu-tests.txt"
  python3 benchmarks/sweep_split.py "$O/sweep-split.json" 2>&1 | tee "$O/sweep-split.txt"
fi
if [ "${1:-1}" = 3 ]; then
  # 3: the final code: GPU tests, KernelBench check (tf32, 25 trials; fp32 and bf16, 5), the headline with every
  #    mode and the seed's code. 4: the ten-shape sweep (GPU time and per-call latency, tf32), the read roofline.
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/log.txt"
  python3 -m lsemish check --precision tf32 --json "$O/check-tf32.json" 2>&1 | tail -2 | tee -a "$O/log.txt"
  for p in fp32 bf16; do python3 -m lsemish check --precision $p --trials 1 2>&1 | tail -1 | tee -a "$O/log.txt"; done
  python3 -m lsemish bench --shapes headline --candidate .seed/current_code.py:seed --out "$O/headline" 2>&1 \
    | tail -14 | tee -a "$O/log.txt"
fi
if [ "${1:-1}" = 4 ]; then
  python3 -m lsemish bench --shapes sweep --precision tf32 --out "$O/sweep" 2>&1 | tail -3 | tee "$O/log.txt"
  python3 benchmarks/read_roofline.py "$O/roofline.json" 2>&1 | tee "$O/roofline.txt"
fi
if [ "${1:-1}" = 5 ]; then
  # 5: training: GPU tests, gradient check, the backward breakdown (P -> G configs), forward + backward bench
  #    (run at ff27094, dW through TMA, an experiment reverted after it; see docs/perf-notes.md).
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/log.txt"
  python3 -m lsemish grad --trials 1 --json "$O/grad.json" 2>&1 | tail -3 | tee -a "$O/log.txt"
  python3 benchmarks/backward_breakdown.py --precision tf32 --grad-sweep 2>&1 | tail -30 | tee "$O/breakdown-tf32.txt"
  python3 -m lsemish bench --shapes headline --precision tf32 --backward --out "$O/training" 2>&1 | tail -12 \
    | tee -a "$O/log.txt"
fi
if [ "${1:-1}" = 6 ]; then
  # 6: the trimmed host path: GPU tests; bench at small shapes and the headline against session 4's module and the
  #    module at 14e3370 (plans, before the trims), both copies in the ignored, carried .seed/.
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/gpu-tests.txt"
  python3 -m lsemish bench --shapes 16,1024,1024 333,1000,3000 16,8192,8192 1,8192,8192 headline --precision tf32 \
    --candidate .seed/model_session4.py:session4 --candidate .seed/model_plans.py:plans --out "$O/host" 2>&1 \
    | tail -45 | tee "$O/host-log.txt"
  python3 benchmarks/host_profile.py 16,1024,1024 > "$O/host-profile.txt" 2>&1
fi
if [ "${1:-1}" = 7 ]; then
  # 7: the few-rows kernel: GPU tests, its sweep across small M.
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/gpu-tests.txt"
  python3 benchmarks/sweep_few.py "$O/sweep-few.json" 2>&1 | tee "$O/sweep-few.txt"
fi
if [ "${1:-1}" = 8 ]; then
  # 8: the shipped few-rows kernel (FEW_M = 32, 128-row W tiles, no K split): GPU tests, check, its sweep.
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/log.txt"
  python3 -m lsemish check --precision tf32 --json "$O/check-tf32.json" 2>&1 | tail -1 | tee -a "$O/log.txt"
  python3 benchmarks/sweep_few.py "$O/sweep-few.json" 2>&1 | tee "$O/sweep-few.txt"
fi
if [ "${1:-1}" = 9 ]; then
  # 9: the fold of the partials, CHUNK tiles per load: GPU tests, then kernel times against the module before it
  #    (a copy of src/lsemish/model_new.py at b90f80b in the ignored, carried .seed/model_head.py).
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/log.txt"
  python3 benchmarks/ab_modules.py "$O/ab-fold.json" .seed/model_head.py:before src/lsemish/model_new.py:chunked \
    2>&1 | tee "$O/ab-fold.txt"
fi
