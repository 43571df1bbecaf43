#!/usr/bin/env bash
# session 22, call 4 (#25): why a Triton candidate's queued protocol costs 1.17-1.37x its calibration in its worker
# while the reference's costs 0.84-1.12x (call 2): one bench, four contenders interleaved: the reference, softplus's
# Triton candidate, a torch candidate after a Triton kernel compiled and launched at import, a launch-bound torch one
set -u
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
S=benchmarks/results/2026-12-02-NVIDIA-H200/scripts
R=$OUT/call4; mkdir -p $R
git rev-parse HEAD > $R/device.txt; git status --short >> $R/device.txt
w=$(mktemp -d); mkdir -p $w/p $w/c; cp benchmarks/suite/problems/softplus.py $w/p/
cp benchmarks/suite/candidates/softplus.py $w/c/triton_softplus.py; cp $S/controls/*.py $w/c/
start=$(date +%s)
timeout 300 python -m lsemish bench --problem $w/p/softplus.py --candidate $w/c/triton_softplus.py:triton \
  --candidate $w/c/triton_loaded.py:triton_loaded --candidate $w/c/launch_bound_torch.py:launch_bound \
  --no-compile --out $w/bench > $R/bench-controls.txt 2>&1
echo "rc $? after $(( $(date +%s) - start )) s" >> $R/bench-controls.txt
cp -r $w/bench $R/bench-controls-out 2>/dev/null
