#!/usr/bin/env bash
# session 22, call 2 (#25): why a launch-bound Triton candidate reads 0.04-0.07 ms per call in its worker where a
# plain process reads 0.008 ms (call 1): one pinned process under the worker's collector regime, with and without
# the young generation collected before the flush (diag_request_cost.py); then softplus's and add_mul_tanh's benches
# with the worker collecting its request's young objects before the flush and reporting its call's host launch
set -u
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
S=benchmarks/results/2026-12-02-NVIDIA-H200/scripts
R=$OUT/call2; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import sys, torch, triton; print(sys.version.split()[0], torch.__version__, triton.__version__)" >> $R/device.txt
git rev-parse HEAD >> $R/device.txt; git status --short >> $R/device.txt
timeout 90 python $S/diag_request_cost.py > $R/request-cost.txt 2>&1; echo "rc $?" >> $R/request-cost.txt
for name in softplus add_mul_tanh; do
  w=$(mktemp -d); mkdir -p $w/p $w/c; cp benchmarks/suite/problems/$name.py $w/p/; cp benchmarks/suite/candidates/$name.py $w/c/
  start=$(date +%s)
  timeout 120 python -m lsemish bench --problem $w/p/$name.py --candidate $w/c/$name.py:candidate --no-compile --out $w/bench > $R/bench-$name.txt 2>&1
  echo "rc $? after $(( $(date +%s) - start )) s" >> $R/bench-$name.txt
  cp -r $w/bench $R/bench-$name-out 2>/dev/null
done
