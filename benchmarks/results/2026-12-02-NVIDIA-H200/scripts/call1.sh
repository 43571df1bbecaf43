#!/usr/bin/env bash
# session 22, call 1: (#25) softplus's honest candidate rejected for "work outside the timed calls" (session 21):
# its bench again with the figures of each disagreeing round kept (bench.py "disagreed"), and one pinned process's
# request cost before/after a Triton kernel (diag_request_cost.py); (#22) where the host time of a tiny call goes,
# old vs new (cProfile), and the host A/B again (its spread between runs)
set -u
export PYTHONPATH=src:benchmarks/host TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
S=benchmarks/results/2026-12-02-NVIDIA-H200/scripts
R=$OUT/call1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
git rev-parse HEAD >> $R/device.txt; git status --short >> $R/device.txt
timeout 60 python $S/diag_request_cost.py > $R/request-cost.txt 2>&1; echo "rc $?" >> $R/request-cost.txt
w=$(mktemp -d); mkdir -p $w/p $w/c; cp benchmarks/suite/problems/softplus.py $w/p/; cp benchmarks/suite/candidates/softplus.py $w/c/
start=$(date +%s)
timeout 130 python -m lsemish bench --problem $w/p/softplus.py --candidate $w/c/softplus.py:candidate --no-compile --out $w/bench > $R/bench-softplus.txt 2>&1
echo "rc $? after $(( $(date +%s) - start )) s" >> $R/bench-softplus.txt
cp -r $w/bench $R/bench-softplus-out 2>/dev/null
timeout 90 python $S/diag_host_profile.py .carry/old_model_new.py:old src/lsemish/model_new.py:new > $R/host-profile.txt 2>&1; echo "rc $?" >> $R/host-profile.txt
timeout 120 python benchmarks/host/ab_host_paths.py $R/ab_host_paths.json .carry/old_model_new.py:old src/lsemish/model_new.py:new \
  --call-shapes "[]" > $R/ab_host_paths.txt 2>&1; echo "rc $?" >> $R/ab_host_paths.txt
