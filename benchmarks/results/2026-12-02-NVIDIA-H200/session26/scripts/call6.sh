#!/bin/bash
# session 26, call 6: the forward's epilogue and fold candidates (epilogue_cost.py), GROUP_M for the fold's tail, and
# native16 after the 16-bit P -> G config (16 columns)
export PYTHONPATH=src TRITON_INTERPRET=0
D=$OUT/call6; mkdir -p $D
run() { local name=$1; shift; local t0=$SECONDS; timeout 300 "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -${TAIL:-14} $D/$name.txt; }
run epilogue-idle python3 benchmarks/forward/epilogue_cost.py $D/epilogue-idle.json --timing idle
run group-idle python3 benchmarks/forward/sweep_tma.py $D/group-idle.json --dtype bfloat16 --timing idle \
  --shapes "[(1024, 8192, 8192)]" --configs "[(128, 256, 32, 8, 3, 8), (128, 256, 32, 8, 3, 1), (128, 256, 32, 8, 3, 2)]"
TAIL=3 run native16 python3 benchmarks/forward/native16.py $D/native16 --timing idle --no-register
