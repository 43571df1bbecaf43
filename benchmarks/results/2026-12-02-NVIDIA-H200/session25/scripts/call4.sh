#!/usr/bin/env bash
# session 25, call 4 (#23): tests/test_gpu.py with compiled kernels (call 3 ran it without TRITON_INTERPRET=0, and
# conftest's default made it skip every test), and the bf16 training step's GPU time by kernel (torch.profiler) with
# gradients accumulating and cleared each step: call 3's per-step latencies (do_bench) were host-bound on this machine
# (1.26-1.50 ms per step against 0.68-0.83 ms of kernels).
set -u
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=/tmp/call4; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
timeout 240 python -m pytest -q tests/test_gpu.py > $R/gpu-tests.txt 2>&1; echo "rc $? at $SECONDS s" >> $R/gpu-tests.txt
timeout $(( 420 - SECONDS )) python benchmarks/backward/step_profile.py $R/step_profile.json > $R/step_profile.txt 2>&1
echo "rc $? at $SECONDS s" >> $R/step_profile.txt
tar czf $OUT/call4.tgz -C /tmp call4
