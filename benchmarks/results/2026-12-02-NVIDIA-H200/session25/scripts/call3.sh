#!/usr/bin/env bash
# session 25, call 3 (#23): the shipped changes measured -- the 16-bit backward products' 128 x 256 x 64 tile with
# bulk-copy stores, and "few16" for 16-bit models' few rows. (1) tests/test_gpu.py (the 16-bit tile-edge test is
# new); (2) benchmarks/forward/native16.py: forward against cuBLAS addmm at the three shapes, bf16 and fp16,
# and the bf16 training step against eager and torch.compile (gradients accumulating, and cleared each step);
# (3) the training step's kernels (torch.profiler); (4) the P -> G kernel's configs for a bf16 model.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
R=/tmp/call3; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
timeout 200 python -m pytest -q tests/test_gpu.py > $R/gpu-tests.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/gpu-tests.txt
timeout 240 python benchmarks/forward/native16.py $R/native16 > $R/native16.txt 2>&1
echo "rc $? at $SECONDS s" >> $R/native16.txt
timeout $(( 520 - SECONDS )) python benchmarks/backward/step_profile.py $R/step_profile.json > $R/step_profile.txt 2>&1
echo "rc $? at $SECONDS s" >> $R/step_profile.txt
timeout $(( 590 - SECONDS )) python benchmarks/backward/sweep_g_kernel.py $R/g_kernel.json > $R/g_kernel.txt 2>&1
echo "rc $? at $SECONDS s" >> $R/g_kernel.txt
tar czf $OUT/call3.tgz -C /tmp call3
