"""Where a 16-bit model's training step spends GPU time (issue 23): the kernels of forward + backward of out.sum()
for lsemish's ModelNew and for eager (and torch.compile of) the reference, from torch.profiler, per step, by kernel
(time summed over its launches, averaged over the profiled steps): GPU time without the host's gaps. Two kinds of
step: gradients accumulating into .grad, and cleared (set to None) before each step. Writes a JSON and prints a
table per contender and kind.

    PYTHONPATH=src python3 benchmarks/backward/step_profile.py OUT.json [--shape M,K,N] [--dtype bfloat16]
"""
import collections
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import dtype_of, option, shape_of, training_step, write_json  # noqa: E402

from lsemish import ModelNew  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS, Model  # noqa: E402

STEPS = 10


def kernels_per_step(step):
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(STEPS):
            step()
        torch.cuda.synchronize()
    totals = collections.Counter()
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            totals[ev.name[:90]] += ev.device_time / 1000 / STEPS  # us -> ms
    return dict(totals.most_common())


def main(out_path, M, K, N, dtype):
    torch.manual_seed(0)
    args = (K, N, *CONSTANTS)
    models = {"lsemish": ModelNew(*args).cuda().to(dtype), "eager": Model(*args).cuda().to(dtype)}
    models["compile"] = torch.compile(Model(*args).cuda().to(dtype))
    x = torch.rand(M, K, device="cuda").to(dtype).requires_grad_(True)
    rows = []
    for cleared in (False, True):
        for name, model in models.items():
            kernels = kernels_per_step(training_step(model, x, cleared))
            rows.append({"contender": name, "grads_cleared_each_step": cleared, "kernels_ms": kernels,
                         "total_ms": sum(kernels.values())})
            print(f"\n{name} (gradients {'cleared' if cleared else 'accumulating'}): {rows[-1]['total_ms']:.4f} ms "
                  "of kernels per step")
            for k, v in kernels.items():
                print(f"  {v:.4f}  {k}")
    write_json(out_path, f"kernel time per training step (torch.profiler, {STEPS} steps), {M}x{K}x{N} {dtype}", rows,
               command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], *option("--shape", (1024, 8192, 8192), shape_of), option("--dtype", torch.bfloat16, dtype_of))
