#!/bin/bash
# session 26, call 7 (H100): GPU tests, the regimes (model data), native16 on an idle GPU with the training step's
# GPU time, at this session's code (persistent 16-bit products, 16-column P -> G for 16-bit models)
export PYTHONPATH=src
D=$OUT/call7; mkdir -p $D
nvidia-smi > $D/device.txt 2>&1; python3 -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $D/device.txt 2>&1
run() { local name=$1; shift; local t0=$SECONDS; timeout 300 "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -${TAIL:-4} $D/$name.txt; }
TRITON_INTERPRET=0 run gpu-tests python3 -m pytest -q -x tests/test_gpu.py -p no:cacheprovider
export TRITON_INTERPRET=0
TAIL=30 run regimes python3 benchmarks/forward/regimes.py $D/regimes.json --data "['model']"
TAIL=8 run native16 python3 benchmarks/forward/native16.py $D/native16 --timing idle --no-register
