#!/usr/bin/env bash
# Session 4, final H100 runs (repo root, PYTHONPATH=src; results under $OUT):
#   1: GPU tests, check (tf32 25 trials, fp32 and bf16 5), headline bench with torch.compile and the seed's code,
#      gradient check;
#   2: the loop: problem 22 from the seed's code, three rounds of a scripted agent (a wrong candidate, a slow correct
#      one, lsemish's deliverable), then the seed's NCU metrics of the deliverable.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
SEED=${SEED:-.seed/current_code.py}  # a copy of ../shared/seed/current_code.py, carried, not committed
if [ "${1:-1}" = 1 ]; then
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -4 | tee "$O/log.txt"
  python3 -m lsemish check --precision tf32 --json "$O/check-tf32.json" 2>&1 | tail -2 | tee -a "$O/log.txt"
  for p in fp32 bf16; do python3 -m lsemish check --precision $p --trials 1 2>&1 | tail -1 | tee -a "$O/log.txt"; done
  python3 -m lsemish grad --trials 1 --json "$O/grad.json" 2>&1 | tail -3 | tee -a "$O/log.txt"
  python3 -m lsemish bench --shapes headline --candidate "$SEED:seed" --out "$O/headline" 2>&1 | tail -14 | tee -a "$O/log.txt"
else
  python3 -m lsemish emit > /tmp/deliverable.py
  python3 -c "import sys; sys.path.insert(0, 'tests'); from helpers import write_wrong_candidate as w; w('problem22_torch', '/tmp/p22_wrong.py')"
  A="python3 tests/fixtures/agent.py /tmp/agent.state /tmp/p22_wrong.py tests/fixtures/candidates/problem22_torch.py /tmp/deliverable.py"
  python3 -m lsemish loop --agent "$A" --rounds 3 --trials 1 --candidate "$SEED" --gpu H100 --out /tmp/loop 2>&1 | tail -12 | tee "$O/loop-log.txt"
  cp /tmp/loop/summary.md /tmp/loop/summary.json /tmp/loop/summary.png "$O/" 2>/dev/null
  cp /tmp/loop/round-03/prompt.txt "$O/round-03-prompt.txt"
  python3 -m lsemish profile --out "$O/profile-lsemish.json" 2>&1 | tail -25 | tee -a "$O/loop-log.txt"
fi
