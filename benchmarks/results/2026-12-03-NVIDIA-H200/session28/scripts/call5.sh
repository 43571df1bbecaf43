#!/bin/bash
# session 28, call 5 (H200): what the row blocks' count costs at 16 rows -- epilogue_cost.py's relaxed-count variant
# (the count's atomic without its release-acquire ordering), bf16 and fp16, idle GPU; lsemish bench at the headline
# (per-call, after the bias and few-rows changes).
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
W=/tmp/call5; D=$W/call5; mkdir -p $D
run() { local name=$1 limit=$2; shift 2; local t0=$SECONDS; timeout $limit "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -n ${TAIL:-3} $D/$name.txt; }
pack() { (cd $W && tar czf $OUT/call5.tgz call5); }
for dt in bfloat16 float16; do
  TAIL=11 run epilogue16-$dt 60 python3 benchmarks/forward/epilogue_cost.py $D/epilogue16-$dt.json --shape 16,8192,8192 --dtype $dt --timing idle; pack
done
TAIL=14 run bench 70 python3 -m lsemish bench --out $D/bench
pack
