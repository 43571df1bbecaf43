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
