#!/usr/bin/env bash
# session 25, call 2 (#23): configs that put two programs on an SM (<= ~113 KB of shared memory, <= 32K registers;
# compiled for sm_90 on the CPU first), so that one program's epilogue overlaps the other's main loop -- the overlap a
# persistent kernel would give, which this Triton cannot build on Hopper (FLATTEN fails to compile; warp
# specialization is not applied: perf-notes, session 25). (1) the 16-bit TMA forward, bf16 and fp16, against cuBLAS
# addmm; (2) the 16-bit backward products against cuBLAS mm.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
R=/tmp/call2; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
C="[(128, 256, 32, 8, 3), (128, 128, 32, 8, 3), (128, 128, 32, 8, 2), (128, 128, 32, 4, 3), (128, 64, 32, 4, 4), (64, 256, 32, 4, 2)]"
for d in bfloat16 float16; do
  timeout 100 python benchmarks/forward/sweep_tma.py $R/fwd-$d.json --dtype $d --configs "$C" \
    --shapes "[(1024, 8192, 8192)]" > $R/fwd-$d.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/fwd-$d.txt
done
G="[(128, 256, 64, 8, 8, 3, True), (128, 128, 64, 8, 8, 3), (128, 128, 64, 8, 8, 2, True), (128, 128, 64, 8, 4, 3), (128, 128, 64, 8, 4, 2, True), (128, 256, 64, 4, 8, 3, True), (128, 256, 64, 16, 8, 3, True), (128, 128, 64, 16, 8, 3)]"
timeout $(( 330 - SECONDS )) python benchmarks/backward/sweep_smem_grad.py $R/smem_grad.json --configs "$G" \
  > $R/smem_grad.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/smem_grad.txt
tar czf $OUT/call2.tgz -C /tmp call2
