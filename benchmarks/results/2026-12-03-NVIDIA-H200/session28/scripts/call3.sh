#!/bin/bash
# session 28, call 3 (H200): where the 16-bit forward's 6 % at 16 rows goes (issue 23) -- epilogue_cost.py at
# 16x8192x8192 (the few-rows kernel: its count and fold left out or kept without the fold, the release-acquire
# count, clamp_max as every tile's max), bf16 and fp16, idle GPU; cuBLAS's kernels at that shape (torch.profiler).
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
W=/tmp/call3; D=$W/call3; mkdir -p $D
git log -1 --format=%H > $D/device.txt 2>&1
run() { local name=$1 limit=$2; shift 2; local t0=$SECONDS; timeout $limit "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -n ${TAIL:-3} $D/$name.txt; }
pack() { (cd $W && tar czf $OUT/call3.tgz call3); }
for dt in bfloat16 float16; do
  TAIL=12 run epilogue16-$dt 120 python3 benchmarks/forward/epilogue_cost.py $D/epilogue16-$dt.json --shape 16,8192,8192 --dtype $dt --timing idle; pack
done
TAIL=12 run epilogue1024-bf16 120 python3 benchmarks/forward/epilogue_cost.py $D/epilogue1024-bf16.json --dtype bfloat16 --timing idle; pack
TAIL=20 run kernels16 60 python3 -c "
import torch
from torch.profiler import profile, ProfilerActivity
from lsemish import model_new as mn
from lsemish.problems.problem22 import CONSTANTS
for dt in (torch.bfloat16, torch.float16):
    x = torch.rand(16, 8192, device='cuda', dtype=dt); w = torch.randn(8192, 8192, device='cuda', dtype=dt) * 0.01
    b = torch.randn(8192, device='cuda', dtype=dt)
    for f in (lambda: torch.addmm(b, x, w.T), lambda: mn.linear_lse_mish(x, w, b, *CONSTANTS)):
        f(); torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as p:
            for _ in range(20): f()
            torch.cuda.synchronize()
        for e in p.key_averages():
            if e.device_type.name == 'CUDA': print(dt, e.key[:150], e.count, round(e.device_time / 1e3, 4), 'ms avg (queued)')
"
pack
