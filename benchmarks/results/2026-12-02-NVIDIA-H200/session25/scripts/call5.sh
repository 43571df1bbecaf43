#!/usr/bin/env bash
# session 25, call 5 (#23): (1) is native16's 1.056x (against sweep_tma's 1.02x for the same config) an artifact of its
# third contender? native16 forward rows with lsemish and cuBLAS alone (--no-register), twice, then sweep_tma.py's
# shipped config at the same shape; (2) more configs of the P -> G kernel (8 warps, narrower column blocks).
set -u
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=/tmp/call5; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
for i in 1 2; do
  timeout 100 python benchmarks/forward/native16.py $R/native16-noreg-$i --no-train --no-register \
    --shapes "1024,8192,8192;16,8192,8192" > $R/native16-noreg-$i.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/native16-noreg-$i.txt
done
timeout 80 python benchmarks/forward/sweep_tma.py $R/sweep-bf16.json --dtype bfloat16 --configs "[(128, 256, 32, 8, 3)]" \
  --shapes "[(1024, 8192, 8192)]" > $R/sweep-bf16.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/sweep-bf16.txt
timeout 100 python benchmarks/backward/sweep_g_kernel.py $R/g_kernel.json --configs "[(128, 32, 4, 3), (128, 32, 8, 3), (256, 32, 8, 3), (128, 16, 4, 3), (256, 16, 4, 3), (64, 32, 4, 3), (128, 32, 4, 4), (128, 32, 4, 2), (64, 16, 2, 4)]" \
  > $R/g_kernel.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/g_kernel.txt
tar czf $OUT/call5.tgz -C /tmp call5
