#!/usr/bin/env bash
# session 23, call 1: (#25) where a small problem's bench spends its ~80 s (cProfile of the trusted side, relu_scale),
# does a busy CPU slow the timed worker's CPU (diag_cpu_neighbours.py, written in session 22), problem 22's honest
# deliverable through the evaluator under the flushed work floor and the 2x room; (#22) the host A/B after _in_order
# reads each kernel's parameter names once
set -u
export PYTHONPATH=src:benchmarks/host TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
S=benchmarks/results/2026-12-02-NVIDIA-H200/scripts
R=$OUT/call1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
git rev-parse HEAD >> $R/device.txt; git status --short >> $R/device.txt
timeout 100 python $S/diag_cpu_neighbours.py > $R/cpu-neighbours.txt 2>&1; echo "rc $?" >> $R/cpu-neighbours.txt
w=$(mktemp -d); mkdir -p $w/p $w/c; cp benchmarks/suite/problems/relu_scale.py $w/p/; cp benchmarks/suite/candidates/relu_scale.py $w/c/
start=$(date +%s)
timeout 150 python -m cProfile -o $R/bench-relu.prof -m lsemish bench --problem $w/p/relu_scale.py \
  --candidate $w/c/relu_scale.py:candidate --no-compile --out $w/bench > $R/bench-relu.txt 2>&1
echo "rc $? after $(( $(date +%s) - start )) s" >> $R/bench-relu.txt
cp -r $w/bench $R/bench-relu-out 2>/dev/null
python -c "
import pstats, sys
for key in ('cumulative', 'tottime'):
    pstats.Stats('$R/bench-relu.prof', stream=sys.stdout).sort_stats(key).print_stats(45)
" > $R/bench-relu-profile.txt 2>&1
python -m lsemish emit > $w/c/deliverable.py
start=$(date +%s)
timeout 200 python -m lsemish bench --candidate $w/c/deliverable.py:deliverable --no-compile --out $w/bench22 > $R/bench-p22.txt 2>&1
echo "rc $? after $(( $(date +%s) - start )) s" >> $R/bench-p22.txt
cp -r $w/bench22 $R/bench-p22-out 2>/dev/null
timeout 120 python benchmarks/host/ab_host_paths.py $R/ab_host_paths.json .carry/old_model_new.py:old src/lsemish/model_new.py:new \
  --call-shapes "[]" > $R/ab_host_paths.txt 2>&1; echo "rc $?" >> $R/ab_host_paths.txt
