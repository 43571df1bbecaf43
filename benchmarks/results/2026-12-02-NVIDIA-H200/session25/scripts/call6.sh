#!/usr/bin/env bash
# session 25, call 6 (#23): does the H200's Triton (3.6) warp-specialize on sm_90 where the CPU's 3.9 does not?
# benchmarks/forward/ws_probe.py, then the persistent prototype's variants that compile (bf16, 1024x8192x8192),
# timed beside the deliverable and cuBLAS.
set -u
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=/tmp/call6; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
timeout 60 python benchmarks/forward/ws_probe.py > $R/ws_probe.txt 2> $R/ws_probe.err; echo "rc $? at $SECONDS s" >> $R/ws_probe.txt
timeout 150 python benchmarks/forward/persistent_tma.py $R/persistent.json --shapes "[(1024, 8192, 8192)]" \
  --dtypes "['bfloat16']" > $R/persistent.txt 2> $R/persistent.err; echo "rc $? at $SECONDS s" >> $R/persistent.txt
tail -c 20000 $R/persistent.err > $R/persistent.err.tail; rm -f $R/persistent.err
tail -c 20000 $R/ws_probe.err > $R/ws_probe.err.tail; rm -f $R/ws_probe.err
tar czf $OUT/call6.tgz -C /tmp call6
