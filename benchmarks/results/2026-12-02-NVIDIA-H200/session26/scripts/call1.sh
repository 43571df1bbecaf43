#!/bin/bash
# session 26, call 1: the 16-bit kernels against cuBLAS by timing regime and data (benchmarks/forward/regimes.py)
export PYTHONPATH=src TRITON_INTERPRET=0
mkdir -p $OUT/call1
nvidia-smi > $OUT/call1/device.txt 2>&1
python3 -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $OUT/call1/device.txt 2>&1
python3 -c "import pynvml; print('pynvml', pynvml.__file__)" >> $OUT/call1/device.txt 2>&1
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active \
  --format=csv -lms 100 > $OUT/call1/smi.csv 2>&1 &
SMI=$!
date +%s > $OUT/call1/start.txt
timeout 420 python3 benchmarks/forward/regimes.py $OUT/call1/regimes.json --gaps "[1.0]" > $OUT/call1/regimes.txt 2>&1
echo "rc $? at $SECONDS s" >> $OUT/call1/regimes.txt
kill $SMI
tail -50 $OUT/call1/regimes.txt
