#!/usr/bin/env bash
# One device call: config sweep of every mode next to cuBLAS, then a detailed NCU report of the shipped tf32 GEMM.
# Usage (device machine, repo root): bash benchmarks/sweep_and_ncu.sh [modes]   -- results under $OUT
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
mkdir -p "$O"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv | tee "$O/gpu.txt"
python3 benchmarks/sweep_configs.py --out "$O" --only "${1:-}" 2>&1 | grep -v Warning
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
"$NCU" --clock-control none -k regex:partial --section SpeedOfLight --section ComputeWorkloadAnalysis \
  --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy --section LaunchStats \
  --csv --page details python3 -m lsemish.profile --shape 1024,8192,8192 > "$O/ncu-tf32-partial.csv" 2> "$O/ncu.err"
grep -i "throughput\|pipe\|stall\|registers\|L2\|warp cycles\|issued" "$O/ncu-tf32-partial.csv" | cut -d, -f12- | head -60
