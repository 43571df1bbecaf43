#!/usr/bin/env bash
# NCU of the shipped tf32 forward (the default model, 1024x8192x8192: the TMA-rounded kernel on Hopper): speed of
# light, compute, memory, warp stall reasons, occupancy; plus `python -m lsemish profile` (the seed's metrics, per
# kernel). Only the profiled forward of lsemish.profile is measured (--profile-from-start off). Results under $OUT.
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
mkdir -p "$O"
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
"$NCU" --clock-control none --profile-from-start off -k regex:"_tf32_lse_mish_kernel|_register_lse_partials_kernel" --section SpeedOfLight --section ComputeWorkloadAnalysis \
  --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy --section LaunchStats \
  --csv --page details python3 -m lsemish.profile --shape 1024,8192,8192 > "$O/ncu-tf32-tma.csv" 2> "$O/ncu.err"
grep -i "throughput\|pipe\|stall\|registers\|warp cycles\|issued\|occupancy" "$O/ncu-tf32-tma.csv" \
  | cut -d, -f12- | head -50
python3 -m lsemish profile --out "$O/profile-lsemish.json" | tail -30
