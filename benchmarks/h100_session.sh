#!/usr/bin/env bash
# One device call: headline checks (all modes), bench with the seed's code, NCU profiles. Results under $OUT.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
mkdir -p "$O"
python3 -m lsemish check --precision tf32 --trials 5 --json "$O/check-tf32.json" | tail -3
python3 -m lsemish check --precision fp32 --trials 1 --json "$O/check-fp32.json" | tail -6
python3 -m lsemish check --precision bf16 --trials 1 --json "$O/check-bf16.json" | tail -6
python3 -m lsemish bench --shapes headline --candidate "${SEED:-../shared/seed/current_code.py}:seed" --out "$O" 2>&1 \
  | grep -v Warning
python3 -m lsemish profile --out "$O/profile-lsemish.json" | tail -40
python3 -m lsemish profile --candidate "${SEED:-../shared/seed/current_code.py}" --out "$O/profile-seed.json" | tail -20
