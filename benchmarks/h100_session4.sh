#!/usr/bin/env bash
# Session 4 on the H100 (run from the repository root with PYTHONPATH=src; results under $OUT):
#   part 1: GPU tests, KernelBench check of the default tf32 mode (5 distributions x 5 trials) and a trial of the
#           other modes, headline bench with torch.compile and the seed's code;
#   part 2: the shape sweep (tf32 mode, no torch.compile).
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
SEED=${SEED:-.seed/current_code.py}  # a copy of ../shared/seed/current_code.py, carried, not committed
if [ "${1:-1}" = 1 ]; then
  { nvidia-smi --query-gpu=name,driver_version --format=csv; python3 -c "import torch, triton; print(torch.__version__, triton.__version__)"; } 2>&1 | tee "$O/log.txt"
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -4 | tee -a "$O/log.txt"
  python3 -m lsemish check --precision tf32 --json "$O/check-tf32.json" 2>&1 | tail -30 | tee -a "$O/log.txt"
  for p in fp32 bf16; do python3 -m lsemish check --precision $p --trials 1 2>&1 | tail -7 | tee -a "$O/log.txt"; done
  python3 -m lsemish bench --shapes headline --candidate "$SEED:seed" --out "$O/headline" 2>&1 | tail -25 | tee -a "$O/log.txt"
else
  python3 -m lsemish bench --shapes sweep --precision tf32 --no-compile --out "$O/sweep" 2>&1 | tail -40 | tee "$O/log-sweep.txt"
fi
