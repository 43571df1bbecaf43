#!/usr/bin/env bash
# session 24, call 4 (#23): the 16-bit TMA forward's configs (in fp32 units: the kernel doubles BLOCK_K for 16-bit
# operands), GPU time against cuBLAS addmm of the same dtype, interleaved; each fits sm_90's shared memory (compiled on
# the CPU first, compile_report.compile_tma_forward: 131-197 KB, no spills). Session 11 measured the current "large"
# (the first config) at 1.057x cuBLAS bf16 at 1024x8192x8192.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
R=/tmp/call4; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
C="[(128, 256, 32, 8, 3), (128, 256, 32, 8, 4), (128, 256, 64, 8, 2), (128, 128, 32, 8, 4), (128, 128, 32, 8, 6), (128, 128, 64, 8, 3), (64, 256, 32, 4, 4), (128, 256, 16, 8, 6), (256, 128, 32, 8, 3)]"
timeout 90 python benchmarks/forward/sweep_tma.py $R/bf16-1024.json --dtype bfloat16 --configs "$C" \
  --shapes "[(1024, 8192, 8192)]" > $R/bf16-1024.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/bf16-1024.txt
timeout $(( 160 - SECONDS )) python benchmarks/forward/sweep_tma.py $R/fp16-1024.json --dtype float16 --configs "$C" \
  --shapes "[(1024, 8192, 8192)]" > $R/fp16-1024.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/fp16-1024.txt
tar czf $OUT/call4.tgz -C /tmp call4
