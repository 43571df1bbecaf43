"""Where a 16-bit model's training step spends GPU time (issue 23): the kernels of forward + backward of out.sum()
for lsemish's ModelNew and for eager (and torch.compile of) the reference, from torch.profiler, per step, by kernel
(time summed over its launches, averaged over the profiled steps): GPU time without the host's gaps. Two kinds of
step: gradients accumulating into .grad, and cleared (set to None) before each step. Writes a JSON and prints a
table per contender and kind. The contenders take turns, three rounds; each figure is the median round's.

    PYTHONPATH=src python3 benchmarks/backward/step_profile.py OUT.json [--shape M,K,N] [--dtype bfloat16]
"""
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import dtype_of, kernels_per_step, option, shape_of, training_step, write_json  # noqa: E402

from lsemish import ModelNew  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS, Model  # noqa: E402

ROUNDS = 3


def main(out_path, M, K, N, dtype):
    torch.manual_seed(0)
    args = (K, N, *CONSTANTS)
    models = {"lsemish": ModelNew(*args).cuda().to(dtype), "eager": Model(*args).cuda().to(dtype)}
    models["compile"] = torch.compile(Model(*args).cuda().to(dtype))
    x = torch.rand(M, K, device="cuda").to(dtype).requires_grad_(True)
    rows = []
    for cleared in (False, True):
        steps = {name: training_step(model, x, cleared) for name, model in models.items()}
        rounds = {name: [] for name in models}
        for _ in range(ROUNDS):  # the contenders interleaved, round by round
            for name, step in steps.items():
                rounds[name].append(kernels_per_step(step))
        for name in models:
            totals = [sum(k.values()) for k in rounds[name]]
            kernels = rounds[name][totals.index(statistics.median(totals))]  # the median round's kernels
            rows.append({"contender": name, "grads_cleared_each_step": cleared, "kernels_ms": kernels,
                         "total_ms": statistics.median(totals), "rounds_total_ms": totals})
            print(f"\n{name} (gradients {'cleared' if cleared else 'accumulating'}): {rows[-1]['total_ms']:.4f} ms "
                  f"of kernels per step (rounds {', '.join(f'{t:.4f}' for t in totals)})")
            for k, v in kernels.items():
                print(f"  {v:.4f}  {k}")
    write_json(out_path, f"kernel time per training step (torch.profiler, 10 steps; median of {ROUNDS} interleaved "
               f"rounds), {M}x{K}x{N} {dtype}", rows,
               command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], *option("--shape", (1024, 8192, 8192), shape_of), option("--dtype", torch.bfloat16, dtype_of))
