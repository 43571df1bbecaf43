#!/bin/bash
# session 26, call 5: the persistent backward products shipped: GPU tests, the products and the forward's epilogue
# on an idle GPU, and native16 (forward on an idle GPU; the training step's GPU time by kernels)
export PYTHONPATH=src
D=$OUT/call5; mkdir -p $D
run() { local name=$1; shift; local t0=$SECONDS; timeout 300 "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -${TAIL:-12} $D/$name.txt; }
TRITON_INTERPRET=0 run gpu-tests python3 -m pytest -q -x tests/test_gpu.py -p no:cacheprovider
export TRITON_INTERPRET=0
run grad-idle python3 benchmarks/backward/sweep_smem_grad.py $D/grad-idle.json --timing idle \
  --configs "[(128, 256, 64, 8, 8, 4, True), (128, 256, 64, 8, 8, 3, True)]"
run epilogue-idle python3 benchmarks/forward/epilogue_cost.py $D/epilogue-idle.json --timing idle
TAIL=30 run native16 python3 benchmarks/forward/native16.py $D/native16 --timing idle --no-register
