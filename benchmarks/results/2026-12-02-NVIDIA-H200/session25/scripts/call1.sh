#!/usr/bin/env bash
# session 25, call 1 (#23): where the 16-bit gaps are. (1) the persistent TMA forward prototype against the deliverable
# and cuBLAS; (2) the 16-bit backward products' tile configs against cuBLAS mm; (3) the few-rows forward's configs for
# a bf16 model at 1-32 rows; (4) the bf16 training step's kernels (torch.profiler) for lsemish, eager, torch.compile.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
R=/tmp/call1; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
timeout 130 python benchmarks/forward/persistent_tma.py $R/persistent.json --shapes "[(1024, 8192, 8192)]" \
  > $R/persistent.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/persistent.txt
timeout 130 python benchmarks/backward/sweep_smem_grad.py $R/smem_grad.json > $R/smem_grad.txt 2>&1
echo "rc $? at $SECONDS s" >> $R/smem_grad.txt
timeout 100 python benchmarks/forward/sweep_few.py $R/few16.json --dtype bfloat16 \
  --shapes "[(1, 8192, 8192), (16, 8192, 8192), (32, 8192, 8192)]" \
  --variants "{'64x64 4w': (64, 64, 8, 4), '64x128 4w': (64, 128, 8, 4), '128x128 8w': (128, 128, 8, 8), '64x32 4w': (64, 32, 12, 4)}" \
  > $R/few16.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/few16.txt
timeout $(( 560 - SECONDS )) python benchmarks/backward/step_profile.py $R/step_profile.json > $R/step_profile.txt 2>&1
echo "rc $? at $SECONDS s" >> $R/step_profile.txt
tar czf $OUT/call1.tgz -C /tmp call1
