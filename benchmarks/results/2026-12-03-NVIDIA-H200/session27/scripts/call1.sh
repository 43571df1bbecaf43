#!/bin/bash
# session 27, call 1 (H200): the TMA forward takes clamp_max as every tile's max where the clamp bounds allow
# (model_new.fixed_max): GPU tests; epilogue_cost (shipped against the running max, bf16 and fp32/tf32, idle GPU);
# native16 (forward rows and the bf16 training step with E, idle GPU); lsemish bench at the headline (per-call).
export PYTHONPATH=src TRITON_INTERPRET=0
W=/tmp/call1; D=$W/call1; mkdir -p $D
nvidia-smi -L > $D/device.txt 2>&1; python3 -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $D/device.txt 2>&1
run() { local name=$1; shift; local t0=$SECONDS; timeout 240 "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -n ${TAIL:-4} $D/$name.txt; }
run gpu-tests python3 -m pytest -q -x tests/test_gpu.py -p no:cacheprovider
TAIL=10 run epilogue-bf16 python3 benchmarks/forward/epilogue_cost.py $D/epilogue-bf16.json --timing idle
TAIL=10 run epilogue-fp32 python3 benchmarks/forward/epilogue_cost.py $D/epilogue-fp32.json --timing idle --dtype float32
TAIL=3 run native16 python3 benchmarks/forward/native16.py $D/native16 --timing idle --no-register
TAIL=30 run bench python3 -m lsemish bench --out $D/bench
(cd $W && tar czf $OUT/call1.tgz call1)
