#!/usr/bin/env bash
# Session 6 H100 runs (repo root, PYTHONPATH=src; results under $OUT):
#   1: the register-operand kernels split by role (_register_lse_partials_kernel, _register_grad_product_kernel)
#      and launched through _launch (resolved once per specialization) instead of Triton's JIT dispatcher: GPU tests,
#      KernelBench check (tf32 25 trials; fp32, bf16 5), gradient check; host time and per-call latency of the
#      register paths against the session-5 module (src/lsemish/model_new.py at 6839888, in the ignored, carried
#      .seed/model_s5.py); NCU of the fp32 and bf16 forwards and the tf32 backward products at the headline.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
if [ "${1:-1}" = 1 ]; then
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$O/device.txt"
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$O/device.txt"
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/log.txt"
  python3 -m lsemish check --precision tf32 --json "$O/check-tf32.json" 2>&1 | tail -2 | tee -a "$O/log.txt"
  for p in fp32 bf16; do python3 -m lsemish check --precision $p --trials 1 2>&1 | tail -1 | tee -a "$O/log.txt"; done
  python3 -m lsemish grad --trials 1 --json "$O/grad.json" 2>&1 | tail -4 | tee -a "$O/log.txt"
  python3 benchmarks/ab_host_paths.py "$O/ab-host-paths.json" .seed/model_s5.py:session5 \
    src/lsemish/model_new.py:session6 2>&1 | tee "$O/ab-host-paths.txt"
fi
if [ "${1:-1}" = 2 ]; then
  # 2: NCU (speed of light, compute, warp states) of the register-operand kernels at the headline: the fp32 and bf16
  #    forwards, and the tf32 backward's two products (benchmarks/ncu_register.py drives one call of each).
  NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  "$NCU" --clock-control none --profile-from-start off -k regex:"_register_" --section SpeedOfLight \
    --section ComputeWorkloadAnalysis --section WarpStateStats --section Occupancy --section LaunchStats \
    --csv --page details python3 benchmarks/ncu_register.py > "$O/ncu-register.csv" 2> "$O/ncu.err"
  python3 benchmarks/ncu_summary.py "$O/ncu-register.csv" | tee "$O/ncu-register.txt"
fi
if [ "${1:-1}" = 3 ]; then
  # 3: the ops as opaque custom ops (torch.compile calls the same kernels as eager code) and the fp32 mode's guard
  #    for infinite weights: GPU tests; ModelNew eager vs torch.compile at the headline, this module and the one
  #    before both changes (6485fb7's, carried as .seed/model_s6a.py: triton_op, the traced graph on the
  #    register-operand kernels), one process each; fp32 mode kernel time, with and without the guard.
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/log.txt"
  python3 benchmarks/compiled_vs_eager.py "$O/compiled-session6.json" src/lsemish/model_new.py:custom_op 2>&1 \
    | grep -v Warn | tail -12 | tee -a "$O/log.txt"
  python3 benchmarks/compiled_vs_eager.py "$O/compiled-s6a.json" .seed/model_s6a.py:triton_op 2>&1 \
    | grep -v Warn | tail -12 | tee -a "$O/log.txt"
  python3 benchmarks/ab_fp32_guard.py "$O/fp32-guard.json" .seed/model_s6a.py:no_guard \
    src/lsemish/model_new.py:guard 2>&1 | tail -6 | tee -a "$O/log.txt"
fi
if [ "${1:-1}" = 4 ]; then
  # 4: TMA forward tile configs not swept before: at the headline, 4096^3 and 8192^3 (stages, GROUP_M, 256 x 128,
  #    BLOCK_K 64, and 128 x 128 with one warpgroup: two or three CTAs per SM); at 333x1000x3000 and M = 128 (the
  #    sweep's worst shapes) smaller tiles.
  python3 benchmarks/sweep_tma.py "$O/sweep-large.json" --configs "[(128,256,32,8,3), (128,256,32,8,4),
    (128,256,32,8,3,4), (128,256,32,8,3,16), (128,256,32,8,3,32), (128,128,32,4,3), (128,128,32,4,2),
    (256,128,32,8,3), (128,256,64,8,2), (256,128,64,8,2)]" \
    --shapes "[(1024,8192,8192), (4096,4096,4096), (8192,8192,8192)]" 2>&1 | grep -v Warn | tee "$O/sweep-large.txt"
  python3 benchmarks/sweep_tma.py "$O/sweep-mid.json" --configs "[(64,256,32,4,4), (64,128,64,4,4), (64,128,32,4,6),
    (64,64,64,4,6), (64,64,32,4,8), (128,128,32,4,3), (128,128,32,4,2), (64,256,32,4,4,4), (128,64,64,4,4)]" \
    --shapes "[(333,1000,3000), (128,8192,8192), (256,8192,8192)]" 2>&1 | grep -v Warn | tee "$O/sweep-mid.txt"
fi
if [ "${1:-1}" = 5 ]; then
  # 5: the one-pass fold of the partials (4096 // BLOCK_M tiles per load, max and sum together): GPU tests, check,
  #    kernel time A/B against the two-pass fold (1caeffd's module, carried as .seed/model_s6b.py) at ab_modules'
  #    shapes, twice (order swapped).
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/log.txt"
  python3 -m lsemish check --precision tf32 --json "$O/check-tf32.json" 2>&1 | tail -1 | tee -a "$O/log.txt"
  python3 benchmarks/ab_modules.py "$O/ab-fold-1.json" .seed/model_s6b.py:two_pass src/lsemish/model_new.py:one_pass \
    2>&1 | grep -v Warn | tee "$O/ab-fold-1.txt"
  python3 benchmarks/ab_modules.py "$O/ab-fold-2.json" src/lsemish/model_new.py:one_pass .seed/model_s6b.py:two_pass \
    2>&1 | grep -v Warn | tee "$O/ab-fold-2.txt"
fi
if [ "${1:-1}" = 6 ]; then
  # 6: 256-row W tiles for a few rows of x where they fill >= 90 % of the SMs ("few_wide"): GPU tests, kernel time
  #    A/B against the module before (the one-pass fold's commit, carried as .seed/model_s6c.py) at wide outputs.
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/log.txt"
  python3 benchmarks/ab_modules.py "$O/ab-few-wide.json" .seed/model_s6c.py:few128 src/lsemish/model_new.py:few_wide \
    --shapes "[(1, 8192, 128256), (8, 8192, 128256), (32, 8192, 128256), (16, 4096, 32000), (32, 4096, 32000),
    (16, 4096, 50257), (4, 8192, 32768), (16, 8192, 8192)]" 2>&1 | grep -v Warn | tee "$O/ab-few-wide.txt"
fi
if [ "${1:-1}" = 7 ]; then
  # 7: tile configs of the backward products (tf32) at the headline, next to cuBLAS's products.
  python3 benchmarks/sweep_grad.py "$O/sweep-grad.json" --configs "[(128, 128, 32, 8, 8, 3), (128, 256, 32, 8, 8, 3),
    (256, 128, 32, 8, 8, 3), (128, 128, 64, 8, 8, 3), (128, 128, 32, 16, 8, 3), (128, 128, 32, 4, 8, 4),
    (128, 256, 32, 16, 8, 3), (256, 128, 32, 16, 8, 3), (128, 128, 32, 8, 4, 3), (128, 64, 32, 8, 4, 4)]" 2>&1 \
    | grep -v Warn | tee "$O/sweep-grad.txt"
fi
if [ "${1:-1}" = 8 ]; then
  # 8: the final code: GPU tests, check (tf32 25 trials; fp32, bf16 5), the restaging PTX probe on this Triton, the
  #    ten-shape sweep (GPU time and per-call latency, tf32).
  nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$O/device.txt"
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -3 | tee "$O/log.txt"
  python3 -m lsemish check --precision tf32 --json "$O/check-tf32.json" 2>&1 | tail -1 | tee -a "$O/log.txt"
  for p in fp32 bf16; do python3 -m lsemish check --precision $p --trials 1 2>&1 | tail -1 | tee -a "$O/log.txt"; done
  python3 benchmarks/restage_ptx.py 2>&1 | grep -v Warn | tee "$O/restage-ptx.txt"
  python3 -m lsemish bench --shapes sweep --precision tf32 --out "$O/sweep" 2>&1 | tail -3 | tee -a "$O/log.txt"
fi
if [ "${1:-1}" = 9 ]; then
  # 9: the final code at the headline: every mode with the seed's code, then forward + backward (tf32); gradients.
  python3 -m lsemish bench --shapes headline --candidate .seed/current_code.py:seed --out "$O/headline" 2>&1 \
    | tail -16 | tee "$O/log.txt"
  python3 -m lsemish bench --shapes headline --precision tf32 --backward --out "$O/training" 2>&1 | tail -12 \
    | tee -a "$O/log.txt"
  python3 -m lsemish grad --trials 1 --json "$O/grad.json" 2>&1 | tail -2 | tee -a "$O/log.txt"
fi
if [ "${1:-1}" = 10 ]; then
  # 10: the "medium" config (M > 128 where 128 x 256 tiles do not fill the SMs) with two warpgroups instead of one.
  python3 benchmarks/sweep_tma.py "$O/sweep-medium.json" --configs "[(64,256,32,4,4), (64,256,32,8,4), (64,256,32,8,3),
    (64,128,64,8,4), (64,128,32,8,6)]" --shapes "[(333,1000,3000), (256,8192,8192), (512,4096,4096)]" 2>&1 \
    | grep -v Warn | tee "$O/sweep-medium.txt"
fi
