#!/bin/bash
# session 28, call 4 (H200): the few-rows TMA kernel takes clamp_max as every tile's max where the bounds allow
# (FIXED_MAX, as the one-tile kernel since session 27), and both TMA kernels load the tile's bias before the main loop
# -- GPU tests; epilogue_cost.py at 16x8192x8192 (bf16, fp16, and fp32 models at the default tf32) and 1024x8192x8192
# (bf16, fp32), idle GPU: `running-max` and `bias-late` are the epilogue before each change; native16.py (the issue's
# forward rows and bf16 training step), idle GPU.
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
W=/tmp/call4; D=$W/call4; mkdir -p $D
git log -1 --format=%H > $D/device.txt 2>&1; git status --short >> $D/device.txt
run() { local name=$1 limit=$2; shift 2; local t0=$SECONDS; timeout $limit "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -n ${TAIL:-3} $D/$name.txt; }
pack() { (cd $W && tar czf $OUT/call4.tgz call4); }
run gpu-tests 150 python3 -m pytest -q tests/test_gpu.py -p no:cacheprovider; pack
for dt in bfloat16 float16 float32; do
  TAIL=10 run epilogue16-$dt 90 python3 benchmarks/forward/epilogue_cost.py $D/epilogue16-$dt.json --shape 16,8192,8192 --dtype $dt --timing idle; pack
done
for dt in bfloat16 float32; do
  TAIL=10 run epilogue1024-$dt 90 python3 benchmarks/forward/epilogue_cost.py $D/epilogue1024-$dt.json --dtype $dt --timing idle; pack
done
TAIL=12 run native16 150 python3 benchmarks/forward/native16.py $D/native16 --timing idle --no-register
pack
