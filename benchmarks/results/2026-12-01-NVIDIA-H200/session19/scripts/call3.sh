#!/usr/bin/env bash
# session 19, call 3: which earlier test breaks the bf16 graph capture; the old tree's test_gpu in order; softplus bench
set -u
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=$OUT/r; mkdir -p $R
for k in "compile_fullgraph or graph_capture" "opcheck or graph_capture"; do
  echo "== -k $k"; timeout 100 python -m pytest -q -x tests/test_gpu.py -k "$k" 2>&1 | grep -E "passed|failed|^FAILED|Error" | head -8
done > $R/subsets.txt 2>&1
(git worktree add -f /tmp/old 9106585 > /dev/null 2>&1; cd /tmp/old && timeout 120 python -m pytest -q -x tests/test_gpu.py 2>&1 | grep -E "passed|failed|^FAILED" | head) > $R/old-gpu-tests.txt 2>&1
w=$(mktemp -d); mkdir -p $w/p $w/c; cp benchmarks/suite/problems/softplus.py $w/p/; cp benchmarks/suite/candidates/softplus.py $w/c/
start=$(date +%s)
timeout 130 python -m lsemish bench --problem $w/p/softplus.py --candidate $w/c/softplus.py:candidate --no-compile --out $w/bench > $R/softplus-bench.txt 2>&1; echo "rc $? after $(( $(date +%s) - start )) s" >> $R/softplus-bench.txt
cp -r $w/bench $R/softplus-bench-out 2>/dev/null
tar czf $OUT/call3.tgz -C $OUT r && rm -rf $R
