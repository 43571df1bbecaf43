#!/usr/bin/env bash
# session 19, call 2: the bf16 graph capture failure (diagnosis, old tree), the rest of test_gpu, softplus bench fixed
set -u
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=$OUT/r; mkdir -p $R
for p in bf16 tf32; do echo "== $p"; timeout 90 python .carry/diag_graph.py $p 2>&1 | grep -v "^\s*$" | tail -80; done > $R/diag-graph.txt 2>&1
git rev-parse HEAD > $R/head.txt
(git worktree add -f /tmp/old 9106585 > /dev/null 2>&1 && cd /tmp/old && timeout 120 python -m pytest -q tests/test_gpu.py -k "graph_capture_and_replay" 2>&1 | tail -5) > $R/old-graph-test.txt 2>&1
timeout 170 python -m pytest -q tests/test_gpu.py 2>&1 | tail -25 > $R/gpu-tests.txt; echo "rc $?" >> $R/gpu-tests.txt
w=$(mktemp -d); mkdir -p $w/p $w/c; cp benchmarks/suite/problems/softplus.py $w/p/; cp benchmarks/suite/candidates/softplus.py $w/c/
start=$(date +%s)
timeout 150 python -m lsemish bench --problem $w/p/softplus.py --candidate $w/c/softplus.py:candidate --no-compile --out $w/bench > $R/softplus-bench.txt 2>&1; echo "rc $? after $(( $(date +%s) - start )) s" >> $R/softplus-bench.txt
cp -r $w/bench $R/softplus-bench-out 2>/dev/null
tar czf $OUT/call2.tgz -C $OUT r && rm -rf $R
