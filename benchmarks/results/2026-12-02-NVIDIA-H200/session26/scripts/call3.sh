#!/bin/bash
# session 26, call 3: the tile sweeps at the unthrottled clock (call 2 stopped them: a launch outlasting the spin raised)
export PYTHONPATH=src TRITON_INTERPRET=0
D=$OUT/call3; mkdir -p $D
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 100 > $D/smi.csv 2>&1 &
SMI=$!
run() { local name=$1; shift; local t0=$SECONDS; timeout 240 "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -3 $D/$name.txt; }
S="[(1024, 8192, 8192)]"
run fwd-bf16-idle python3 benchmarks/forward/sweep_tma.py $D/fwd-bf16-idle.json --dtype bfloat16 --timing idle --shapes "$S" \
  --configs "[(128, 256, 32, 8, 3), (128, 256, 32, 8, 4), (128, 256, 64, 8, 2), (256, 128, 32, 8, 3), (256, 128, 32, 8, 4), (128, 128, 64, 8, 3), (128, 128, 32, 4, 4), (64, 256, 32, 4, 4), (128, 256, 32, 8, 3, 4), (128, 256, 32, 8, 3, 16)]"
run fwd-fp32-idle python3 benchmarks/forward/sweep_tma.py $D/fwd-fp32-idle.json --timing idle --shapes "$S" \
  --configs "[(128, 256, 32, 8, 3), (128, 256, 32, 8, 4), (256, 128, 32, 8, 3), (128, 128, 64, 8, 3)]"
run grad-idle python3 benchmarks/backward/sweep_smem_grad.py $D/grad-idle.json --timing idle \
  --configs "[(128, 256, 64, 8, 8, 3, True), (128, 256, 64, 8, 8, 4, True), (256, 128, 64, 8, 8, 3, True), (256, 128, 64, 8, 8, 4, True), (128, 128, 64, 8, 8, 4, True), (128, 128, 64, 8, 4, 5, True), (128, 256, 64, 4, 8, 3, True), (128, 256, 64, 16, 8, 3, True), (128, 256, 32, 8, 8, 5, True), (64, 256, 64, 8, 4, 4, True)]"
run few-bf16-idle python3 benchmarks/forward/sweep_few.py $D/few-bf16-idle.json --dtype bfloat16 --timing idle --shapes "[(16, 8192, 8192)]"
kill $SMI
