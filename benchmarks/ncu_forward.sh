#!/usr/bin/env bash
# NCU of the shipped tf32 forward GEMM (the default model, 1024x8192x8192): speed of light, compute, memory, warp
# stall reasons, occupancy; plus `python -m lsemish profile` (the seed's metrics, per kernel). Results under $OUT.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
mkdir -p "$O"
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
"$NCU" --clock-control none -k regex:_gemm_kernel --section SpeedOfLight --section ComputeWorkloadAnalysis \
  --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy --section LaunchStats \
  --csv --page details python3 -m lsemish.profile --shape 1024,8192,8192 > "$O/ncu-tf32-gemm.csv" 2> "$O/ncu.err"
grep -i "throughput\|pipe\|stall\|registers\|warp cycles\|issued\|occupancy" "$O/ncu-tf32-gemm.csv" \
  | cut -d, -f12- | head -50
python3 -m lsemish profile --out "$O/profile-lsemish.json" | tail -30
