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
if [ "${1:-1}" = 5 ]; then
  # 5: the exact-fp32 few-rows forward (_fma_lse_mish_few_rows_kernel): GPU tests; sweep of its configs against the
  #    TMA few-rows kernel and cuBLAS (sweep_fma.py).
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -4 | tee "$O/log.txt"
  python3 benchmarks/sweep_fma.py "$O/sweep-fma.json" 2>&1 | grep -v Warn | tee "$O/sweep-fma.txt"
fi
if [ "${1:-1}" = 6 ]; then
  # 6: the FMA kernel in the fp32 mode (against its register-operand 3xtf32 kernel and cuBLAS fp32), and the tf32
  #    mode again at one and two rows.
  python3 benchmarks/sweep_fma.py "$O/sweep-fma-fp32.json" --precision fp32 --configs "[(2, 2048, 8), (8, 512, 8)]" \
    --shapes "[(1, 8192, 8192), (2, 8192, 8192), (4, 8192, 8192), (8, 8192, 8192), (16, 8192, 8192), (32, 8192, 8192),
    (1, 4096, 32000), (8, 4096, 32000)]" 2>&1 | grep -v Warn | tee "$O/sweep-fma-fp32.txt"
  python3 benchmarks/sweep_fma.py "$O/sweep-fma-tf32.json" --configs "[(2, 2048, 8), (8, 512, 8), (4, 1024, 8)]" \
    --shapes "[(1, 8192, 8192), (2, 8192, 8192), (1, 4096, 32000), (1, 8192, 128256), (1, 1024, 1024)]" 2>&1 \
    | grep -v Warn | tee "$O/sweep-fma-tf32.txt"
fi
if [ "${1:-1}" = 7 ]; then
  # 7: the final code (the FMA kernel for one row in the tf32 mode, up to eight in the fp32 mode): GPU tests,
  #    KernelBench check, host time and per-call latency at a few rows against the session-6 module
  #    (.seed/model_s7base.py), the sweep (tf32; GPU time and per-call latency, chart), and a few rows in every mode.
  nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$O/device.txt"
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$O/device.txt"
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -2 | tee "$O/log.txt"
  python3 -m lsemish check --precision tf32 --json "$O/check-tf32.json" 2>&1 | tail -1 | tee -a "$O/log.txt"
  for p in fp32 bf16; do python3 -m lsemish check --precision $p --trials 1 2>&1 | tail -1 | tee -a "$O/log.txt"; done
  python3 benchmarks/ab_host_paths.py "$O/host-few-rows.json" .seed/model_s7base.py:session6 \
    src/lsemish/model_new.py:fma --host-shape 1,64,64 --call-shapes "[(1, 8192, 8192), (8, 8192, 8192),
    (1, 1024, 1024)]" --cases "[('tf32', False), ('fp32', False)]" 2>&1 | grep -v Warn | tee "$O/host-few-rows.txt"
  python3 -m lsemish bench --shapes sweep --precision tf32 --out "$O/sweep" 2>&1 | tail -3 | tee -a "$O/log.txt"
  python3 -m lsemish bench --shapes 1,8192,8192 8,8192,8192 1,4096,32000 --precision tf32 fp32 bf16 \
    --out "$O/few-rows" 2>&1 | tail -3 | tee -a "$O/log.txt"
fi
if [ "${1:-1}" = 8 ]; then
  # 8: the FMA forward with its own launch plan (direct launch, as the TMA forward's): GPU tests; host time and
  #    per-call latency at a few rows against the session-6 module, in both orders; the sweep (tf32) and a few rows
  #    in every mode (bench folders come back as one tar file: at most 8 files return).
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -2 | tee "$O/log.txt"
  python3 -m lsemish check --precision tf32 --json "$O/check-tf32.json" 2>&1 | tail -1 | tee -a "$O/log.txt"
  for order in "session6 fma" "fma session6"; do
    set -- $order
    spec() { [ "$1" = session6 ] && echo .seed/model_s7base.py:session6 || echo src/lsemish/model_new.py:fma; }
    python3 benchmarks/ab_host_paths.py "$O/host-few-rows-$1-first.json" "$(spec $1)" "$(spec $2)" \
      --host-shape 1,64,64 --call-shapes "[(1, 8192, 8192), (8, 8192, 8192), (1, 1024, 1024)]" \
      --cases "[('tf32', False), ('fp32', False)]" 2>&1 | grep -v Warn | tee -a "$O/host-few-rows.txt"
  done
  python3 -m lsemish bench --shapes sweep --precision tf32 --out "$O/b/sweep" 2>&1 | tail -3 | tee -a "$O/log.txt"
  python3 -m lsemish bench --shapes 1,8192,8192 8,8192,8192 1,4096,32000 --precision tf32 fp32 bf16 \
    --out "$O/b/few-rows" 2>&1 | tail -3 | tee -a "$O/log.txt"
  tar czf "$O/bench.tgz" -C "$O/b" sweep few-rows && rm -rf "$O/b"
fi
if [ "${1:-1}" = 9 ]; then
  # 9: the bf16 mode on the FMA kernel up to eight rows (GPU tests, few-rows bench in every mode); TMA configs with
  #    64-wide K steps for the "medium" region (short K loops: half the steps, each twice the work).
  TRITON_INTERPRET=0 python3 -m pytest -q tests/test_gpu.py 2>&1 | grep -v DEBUG | tail -2 | tee "$O/log.txt"
  python3 -m lsemish check --precision bf16 --trials 3 2>&1 | tail -1 | tee -a "$O/log.txt"
  python3 -m lsemish bench --shapes 1,8192,8192 8,8192,8192 --precision tf32 fp32 bf16 --no-compile \
    --out "$O/b/few-rows-bf16" 2>&1 | tail -3 | tee -a "$O/log.txt"
  tar czf "$O/bench.tgz" -C "$O/b" few-rows-bf16 && rm -rf "$O/b"
  python3 benchmarks/sweep_tma.py "$O/sweep-medium-bk64.json" --configs "[(64,256,32,4,4), (64,256,64,4,2),
    (64,256,64,8,2), (64,256,32,4,5), (128,128,64,8,3), (64,128,128,4,2)]" --shapes "[(333,1000,3000),
    (300,512,1024), (512,2048,2048), (256,8192,8192)]" 2>&1 | grep -v Warn | tee "$O/sweep-medium-bk64.txt"
fi
if [ "${1:-1}" = 10 ]; then
  # 10: where a short shape's time goes (300x512x1024: 12 us whatever the tile config, cuBLAS 5.3): NCU warp-state
  #    sampling per SASS instruction of the shipped kernel (ncu_sass_hot.py lists the hottest).
  NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  for shape in 300,512,1024 333,1000,3000; do
    "$NCU" --clock-control none --profile-from-start off -k regex:"_tf32_lse_mish" --section WarpStateStats \
      --section SourceCounters --page source --print-source sass --csv python3 -c "
import torch, lsemish.model_new as mn
M, K, N = $shape
torch.manual_seed(0)
x = torch.rand(M, K, device='cuda'); w = torch.randn(N, K, device='cuda') / K**0.5; b = torch.randn(N, device='cuda')
mn.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0); torch.cuda.synchronize()
torch.cuda.cudart().cudaProfilerStart(); mn.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0); torch.cuda.synchronize()
torch.cuda.cudart().cudaProfilerStop()" > "$O/sass-$shape.csv" 2> "$O/ncu-$shape.err"
    echo "== $shape" | tee -a "$O/sass-hot.txt"
    python3 benchmarks/ncu_sass_hot.py "$O/sass-$shape.csv" 40 2>&1 | tee -a "$O/sass-hot.txt"
  done
  gzip "$O"/sass-*.csv
fi
