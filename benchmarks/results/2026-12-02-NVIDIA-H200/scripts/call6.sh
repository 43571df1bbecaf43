#!/usr/bin/env bash
# session 22, call 6 (#25): two honest candidates the suite (call 5) rejected for work outside their queued calls,
# benched again with the worker spinning through this side's checks (SPIN_S) and the flush timed behind a busy GPU
set -u
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=$OUT/call6; mkdir -p $R
git rev-parse HEAD > $R/head.txt; git status --short >> $R/head.txt
for name in matmul gemm_gelu_bias; do
  w=$(mktemp -d); mkdir -p $w/p $w/c
  cp src/lsemish/problems/$name.py $w/p/; cp tests/fixtures/candidates/${name}_right.py $w/c/$name.py
  start=$(date +%s)
  timeout 85 python -m lsemish bench --problem $w/p/$name.py --candidate $w/c/$name.py:candidate --no-compile --out $w/bench > $R/bench-$name.txt 2>&1
  echo "rc $? after $(( $(date +%s) - start )) s" >> $R/bench-$name.txt
  cp -r $w/bench $R/bench-$name-out 2>/dev/null
done
