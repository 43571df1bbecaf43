#!/usr/bin/env bash
# session 21, call 1 (session 20's call 1 again: its results were lost with its machine, plus diag_launch): (#22) is a Triton kernel finalized by the collector during the bf16 capture (HEAD's test, with
# the diag_gc plugin), then tests/test_gpu.py whole with the gc.collect() before capture; A/B old (9106585) vs new,
# headline; (#25) bench of the three small suite candidates rejected in suite-2, at this tree
set -u
export PYTHONPATH=src:benchmarks/results/2026-12-01-NVIDIA-H200/session20/scripts:benchmarks/results/2026-12-01-NVIDIA-H200/session21/scripts TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
git status --short >> $R/device.txt
cp .carry/test_gpu_head.py tests/test_gpu_head.py
timeout 150 python -m pytest -q -s -x -p diag_gc tests/test_gpu_head.py -k "compile_fullgraph or graph_capture" 2>&1 | grep -v "^\s*$" | grep -v "^    \|^E  \|^[a-z_/.]*py:[0-9]" | head -150 > $R/gc-diag-head.txt
rm tests/test_gpu_head.py
timeout 200 python -m pytest -q tests/test_gpu.py 2>&1 | tail -15 > $R/gpu-tests.txt; echo "rc $?" >> $R/gpu-tests.txt
timeout 200 python benchmarks/host/ab_host_paths.py $R/ab_host_paths.json .carry/old_model_new.py:old src/lsemish/model_new.py:new \
  --call-shapes "[(1024, 8192, 8192)]" > $R/ab_host_paths.txt 2>&1; echo "rc $?" >> $R/ab_host_paths.txt
for name in row_sum add_mul_tanh softplus; do
  w=$(mktemp -d); mkdir -p $w/p $w/c; cp benchmarks/suite/problems/$name.py $w/p/; cp benchmarks/suite/candidates/$name.py $w/c/
  start=$(date +%s)
  timeout 110 python -m lsemish bench --problem $w/p/$name.py --candidate $w/c/$name.py:candidate --no-compile --out $w/bench > $R/bench-$name.txt 2>&1
  echo "rc $? after $(( $(date +%s) - start )) s" >> $R/bench-$name.txt
  cp -r $w/bench $R/bench-$name-out 2>/dev/null
done
timeout 120 python benchmarks/results/2026-12-01-NVIDIA-H200/session21/scripts/diag_launch.py softplus row_sum add_mul_tanh relu_scale row_layernorm > $R/diag-launch.txt 2>&1; echo "rc $?" >> $R/diag-launch.txt
git rev-parse HEAD >> $R/device.txt
tar czf $OUT/call1.tgz -C $OUT r && rm -rf $R
