"""The tf32 control of ab_host_paths.py, looked at closer (GPU): which kernels one headline call of each module
launches (torch.profiler), then per-call latency (KernelBench's way) and CUDA-graph kernel time of both, three
rounds with the order alternating.

    PYTHONPATH=src python3 benchmarks/host/ab_tf32_control.py FILE_A:LABEL FILE_B:LABEL
"""
import sys

import torch
import triton
from ab_host_paths import call_ms, case_fn  # KernelBench's per-call latency (lsemish.bench)
from ab_modules import load

torch.backends.cuda.matmul.allow_tf32 = True
mods = [load(s) for s in sys.argv[1:]]
shape = (1024, 8192, 8192)
fns = {label: case_fn(m, "tf32", False, shape) for label, m in mods}
for label, fn in fns.items():
    fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    module = dict(mods)[label]  # TMA forward plans: _TMA_PLANS before session 18, _PLANS' "tma" keys since
    tma_plans = getattr(module, "_TMA_PLANS", None) or [key for key in module._PLANS if key[0] == "tma"]
    print(label, "kernels:", names, "plans:", len(tma_plans), flush=True)
for r in range(3):
    for label, fn in reversed(list(fns.items())) if r % 2 else fns.items():
        print(r, label, "call_ms", round(call_ms(fn), 4), "graph_ms",
              round(triton.testing.do_bench_cudagraph(fn, rep=50), 4), flush=True)
