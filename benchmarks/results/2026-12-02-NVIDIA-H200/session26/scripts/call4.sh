#!/bin/bash
# session 26, call 4: persistent prototypes on an idle GPU: the backward products (persistent_grad.py) and the forward
# (persistent_tma.py, bf16)
export PYTHONPATH=src TRITON_INTERPRET=0
D=$OUT/call4; mkdir -p $D
run() { local name=$1; shift; local t0=$SECONDS; timeout 280 "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -40 $D/$name.txt; }
run persistent-grad python3 benchmarks/backward/persistent_grad.py $D/persistent-grad.json --timing idle
run persistent-fwd python3 benchmarks/forward/persistent_tma.py $D/persistent-fwd.json --timing idle --dtypes "['bfloat16']" --shapes "[(1024, 8192, 8192)]"
