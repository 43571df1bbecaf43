#!/usr/bin/env bash
# Device call for the torch-integration issue. Part "a": GPU integration tests (opcheck, compile fullgraph, CUDA
# graphs), headline gradients vs float64 next to eager's, forward checks. Part "b": bench with --backward.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
mkdir -p "$O"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv > "$O/gpu.txt"
if [ "${1:-a}" = a ]; then
  TRITON_INTERPRET=0 python3 -m pytest tests/test_gpu.py -v -p no:cacheprovider > "$O/gpu-tests.txt" 2>&1
  grep -E "PASSED|FAILED|SKIPPED|Error|passed|failed" "$O/gpu-tests.txt" | tail -30
  python3 -m lsemish grad --trials 1 --json "$O/grad.json" 2>&1 | grep -v Warning | tail -22
  [ "${CHECKS:-1}" = 1 ] || exit 0
  python3 -m lsemish check --precision tf32 --trials 5 --json "$O/check-tf32.json" | tail -2
  python3 -m lsemish check --precision fp32 --trials 1 --json "$O/check-fp32.json" | tail -2
  python3 -m lsemish check --precision bf16 --trials 1 --json "$O/check-bf16.json" | tail -2
else
  python3 -m lsemish bench --shapes headline --backward --candidate "${SEED:-../shared/seed/current_code.py}:seed" \
    --out "$O" 2>&1 | grep -v Warning
fi
