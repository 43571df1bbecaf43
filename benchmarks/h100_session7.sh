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
if [ "${1:-1}" = 3 ]; then
  # 3: split-K for shapes whose large tiles leave half the SMs idle (_tf32_lse_mish_split_k_kernel, which replaced
  #    the stream-K kernel): GPU tests; kernel time A/B of the session-6 module (.seed/model_s7base.py), this module,
  #    and this module with SPLIT_MAX 1 (control: must read as the base), at shapes that split and two that do not.
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -4 | tee "$O/log.txt"
  sed 's/"SPLIT_MAX": 4, "SPLIT_MIN_STEPS": 8/"SPLIT_MAX": 1, "SPLIT_MIN_STEPS": 8/' src/lsemish/model_new.py \
    > /tmp/model_nosplit.py
  grep -c '"SPLIT_MAX": 1' /tmp/model_nosplit.py | tee -a "$O/log.txt"
  python3 benchmarks/ab_modules.py "$O/ab-split-k.json" .seed/model_s7base.py:base src/lsemish/model_new.py:split_k \
    /tmp/model_nosplit.py:no_split --shapes "[(333,1000,3000), (300,512,1024), (200,1024,1024), (512,2048,2048),
    (256,4096,4096), (512,4096,4096), (256,8192,8192), (1024,8192,8192)]" 2>&1 | grep -v Warn | tee "$O/ab-split-k.txt"
fi
if [ "${1:-1}" = 4 ]; then
  # 4: NCU (speed of light, memory, warp states) of the session-6 kernel and the split-K kernel at 333x1000x3000
  #    and 300x512x1024, for where the time goes at short shapes.
  NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  sed 's/"SPLIT_MAX": 4, "SPLIT_MIN_STEPS": 8/"SPLIT_MAX": 1, "SPLIT_MIN_STEPS": 8/' src/lsemish/model_new.py \
    > src/lsemish/_model_nosplit.py
  for shape in 333,1000,3000 300,512,1024; do
    for m in model_new _model_nosplit; do
      "$NCU" --clock-control none --profile-from-start off -k regex:"_tf32_lse_mish" --section SpeedOfLight \
        --section MemoryWorkloadAnalysis --section WarpStateStats --section LaunchStats --section Occupancy \
        --metrics lts__t_sectors_srcunit_tex_op_read.sum,lts__throughput.avg.pct_of_peak_sustained_elapsed,l1tex__m_xbar2l1tex_read_bytes.sum \
        --csv --page details python3 -c "
import torch, lsemish.$m as mn
M, K, N = $shape
torch.manual_seed(0)
x = torch.rand(M, K, device='cuda'); w = torch.randn(N, K, device='cuda') / K**0.5; b = torch.randn(N, device='cuda')
mn.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0); torch.cuda.synchronize()
torch.cuda.cudart().cudaProfilerStart(); mn.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0); torch.cuda.synchronize()
torch.cuda.cudart().cudaProfilerStop()" > "$O/ncu-$m-$shape.csv" 2>> "$O/ncu.err"
      echo "== $m $shape" | tee -a "$O/ncu-short.txt"
      python3 benchmarks/ncu_summary.py "$O/ncu-$m-$shape.csv" | tee -a "$O/ncu-short.txt"
      grep -E "lts__t_sectors_srcunit_tex_op_read.sum|lts__throughput|l1tex__m_xbar2l1tex" "$O/ncu-$m-$shape.csv" \
        | cut -d, -f12- | tee -a "$O/ncu-short.txt"
    done
  done
  rm -f src/lsemish/_model_nosplit.py
fi
