#!/usr/bin/env bash
# session 19, call 1: #22's GPU tests and old-vs-new A/B; the softplus bench that hung in suite-1, under py-spy
set -u
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=$OUT/r; mkdir -p $R
pip install -q --no-index .carry/wheels/py_spy-*.whl > $R/pyspy-install.txt 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
git rev-parse HEAD >> $R/device.txt 2>/dev/null
# softplus probe first (it may hang): 150 s, py-spy dumps of every python process at 45 s and 100 s
w=$(mktemp -d); mkdir -p $w/p $w/c; cp benchmarks/suite/problems/softplus.py $w/p/; cp benchmarks/suite/candidates/softplus.py $w/c/
start=$(date +%s)
( timeout 120 python -m lsemish bench --problem $w/p/softplus.py --candidate $w/c/softplus.py:candidate --no-compile --out $w/bench > $R/softplus-bench.txt 2>&1; echo "rc $? after $(( $(date +%s) - start )) s" >> $R/softplus-bench.txt ) &
bp=$!
for t in 40 90; do
  sleep $(( t - ($(date +%s) - start) )) 2>/dev/null
  kill -0 $bp 2>/dev/null || break
  echo "== dump at ${t}s" >> $R/softplus-spy.txt
  for p in $(pgrep -f "python"); do echo "-- pid $p: $(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-200)" >> $R/softplus-spy.txt; py-spy dump --pid $p >> $R/softplus-spy.txt 2>&1; done
  nvidia-smi >> $R/softplus-spy.txt 2>&1
done
wait $bp
cp -r $w/bench $R/softplus-bench-out 2>/dev/null
# #22: the GPU tests with the new launch path
timeout 170 python -m pytest -q -x tests/test_gpu.py > $R/gpu-tests.txt 2>&1; echo "rc $?" >> $R/gpu-tests.txt
# #22: old (9106585) against new, interleaved
timeout 130 python benchmarks/host/ab_host_paths.py $R/ab_host_paths.json .carry/old_model_new.py:old src/lsemish/model_new.py:new > $R/ab_host_paths.txt 2>&1; echo "rc $?" >> $R/ab_host_paths.txt
timeout 130 python benchmarks/host/ab_modules.py $R/ab_modules.json .carry/old_model_new.py:old src/lsemish/model_new.py:new > $R/ab_modules.txt 2>&1; echo "rc $?" >> $R/ab_modules.txt
tar czf $OUT/call1.tgz -C $OUT r && rm -rf $R
