#!/usr/bin/env bash
# One device call: the variant sweep with Triton's bundled ptxas, then again with ptxas 13.3 (carried as
# .ptxas/ptxas-13.3.gz from the nvidia-cuda-nvcc 13.3.73 wheel), each with an empty Triton cache.
# Question: does ptxas 13.3 remove the register-A wgmma race (triton-lang/triton#9433) of the pipelined variants?
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
mkdir -p "$O/bundled" "$O/p133"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv | tee "$O/gpu.txt"
TRITON_CACHE_DIR=/tmp/tc-bundled python3 benchmarks/sweep_configs.py --out "$O/bundled" 2>&1 | grep -v Warning | tail -25
gunzip -c .ptxas/ptxas-13.3.gz > /tmp/ptxas-13.3 && chmod +x /tmp/ptxas-13.3 && /tmp/ptxas-13.3 --version | tail -1
TRITON_PTXAS_PATH=/tmp/ptxas-13.3 TRITON_CACHE_DIR=/tmp/tc-p133 python3 benchmarks/sweep_configs.py --out "$O/p133" 2>&1 \
  | grep -v Warning | tail -25
