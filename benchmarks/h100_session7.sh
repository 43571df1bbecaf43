#!/usr/bin/env bash
# Session 7 H100 runs (repo root, PYTHONPATH=src; results under $OUT):
#   1: the stream-K schedule of the TMA forward (_tf32_lse_mish_stream_k_kernel where tiles do not fill whole
#      waves): GPU tests; kernel time A/B (CUDA-graph replays, interleaved) of the session-6 module (HEAD 5fd3150,
#      carried as the ignored .seed/model_s7base.py), this module, and this module with STREAM_K off (a control that
#      must read as the base), at the sweep's shapes and a few more.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
O=${OUT:-/tmp/out}
SHAPES="[(128,8192,8192), (256,8192,8192), (333,1000,3000), (512,4096,4096), (1024,8192,8192), (1024,4096,32000),
 (1024,8192,128256), (4096,4096,4096), (4096,8192,8192), (8192,8192,8192)]"
if [ "${1:-1}" = 1 ]; then
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$O/device.txt"
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$O/device.txt"
  TRITON_INTERPRET=0 python3 -m pytest -q -x tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -15 | tee "$O/log.txt"
  sed 's/"STREAM_K": True/"STREAM_K": False/' src/lsemish/model_new.py > /tmp/model_nosk.py
  python3 benchmarks/ab_modules.py "$O/ab-stream-k.json" .seed/model_s7base.py:base src/lsemish/model_new.py:stream_k \
    /tmp/model_nosk.py:no_sk --shapes "$SHAPES" 2>&1 | grep -v Warn | tee "$O/ab-stream-k.txt"
fi
if [ "${1:-1}" = 2 ]; then
  # 2: why the stream-K schedule is slow: kernel time of four schedules (diag_stream_k.py), then NCU (DRAM bytes,
  #    L2 hit rate, duration) of each at the headline and 333x1000x3000.
  python3 benchmarks/diag_stream_k.py time "$O/diag-stream-k.json" 2>&1 | grep -v Warn | tee "$O/diag-stream-k.txt"
  NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  for shape in "1024 8192 8192" "333 1000 3000"; do
    for v in dp persistent sk sk_all; do
      echo "== $v $shape" | tee -a "$O/ncu-stream-k.txt"
      "$NCU" --clock-control none --profile-from-start off -k regex:"_tf32_lse_mish" --metrics \
        gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__cycles_active.avg,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_elapsed \
        python3 benchmarks/diag_stream_k.py one $v $shape 2>&1 | grep -E "^ +[a-z_]+__|tf32_lse" | tee -a "$O/ncu-stream-k.txt"
    done
  done
fi
