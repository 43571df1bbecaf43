#!/bin/bash
# session 26, call 9 (asked for an H200, ran on the warm H100): bf16 models' training forward saves E (bf16) instead of P (fp32): the regimes
# (E and P side by side: the training forward and the G kernel) and native16 (the step, with a saving-P contender)
export PYTHONPATH=src
D=$OUT/call9; mkdir -p $D
nvidia-smi -L > $D/device.txt 2>&1; python3 -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $D/device.txt 2>&1
run() { local name=$1; shift; local t0=$SECONDS; timeout 300 "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -${TAIL:-4} $D/$name.txt; }
export TRITON_INTERPRET=0
TAIL=20 run regimes python3 benchmarks/forward/regimes.py $D/regimes.json --data "['model']"
TAIL=3 run native16 python3 benchmarks/forward/native16.py $D/native16 --timing idle --no-register --shapes 1024,8192,8192
