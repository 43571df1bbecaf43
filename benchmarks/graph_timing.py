"""What the kernel-time scripts share (GPU): the seeded problem they time with its float64 reference, contenders
timed by CUDA-graph replays (no host time) in interleaved rounds, the JSON they write, and their command-line
options.
Used by scripts in forward/, host/ and backward/ (sweep_*.py, native16.py, read_roofline.py, ab_*.py,
compiled_vs_eager.py); each puts this folder on sys.path before importing it."""
import ast
import json
import statistics
import sys

import torch
import triton

from lsemish.problems.problem22 import CONSTANTS, reference_forward


def problem(M, K, N):
    """x (rand), W (randn / sqrt K), b (randn) on the GPU from seed 0, and the float64 reference output."""
    torch.manual_seed(0)
    x = torch.rand(M, K, device="cuda")
    w = torch.randn(N, K, device="cuda") / K**0.5
    b = torch.randn(N, device="cuda")
    return x, w, b, reference_forward(x.double(), w.double(), b.double(), *CONSTANTS)


def training_state(M, K, N, dtype):
    """The problem's x, W, b in dtype, what its training forward saves (lse, P) and an upstream gradient g (M, 1):
    the backward's inputs, for the scripts that time its kernels."""
    x32, w32, b32, _ = problem(M, K, N)
    x, w, b = (t.to(dtype) for t in (x32, w32, b32))
    _, lse, p = torch.ops.lsemish.linear_lse_mish(x, w, b, *CONSTANTS, "tf32", True)
    return x, w, b, lse, p, torch.randn(M, 1, device="cuda", dtype=dtype)


def rel_l2(out, gold):
    return float((out.double() - gold).norm() / gold.norm())


def interleaved_ms(fns, rep=60, rounds=3):
    """{name: ms}: each the median over `rounds` rounds that time every contender in turn (do_bench_cudagraph)."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(triton.testing.do_bench_cudagraph(fn, rep=rep))
    return {name: statistics.median(t) for name, t in times.items()}


def training_step(model, x, cleared):
    """One training step of model on x: forward + backward of out.sum(), the gradients accumulating into .grad or,
    `cleared`, set to None first (x's and the parameters', as optimizer.zero_grad does by default)."""
    def run():
        if cleared:
            for t in (x, *model.parameters()):
                t.grad = None
        model(x).sum().backward()
    return run


def option(name, default, parse=ast.literal_eval):
    """The command line's value after `name`, parsed (a Python literal by default), or default without it."""
    return parse(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def shape_of(text):
    """"M,K,N" -> (M, K, N)."""
    return tuple(int(v) for v in text.split(","))


def dtype_of(name):
    """"bfloat16" -> torch.bfloat16."""
    return getattr(torch, name)


def write_json(path, note, rows, **extra):
    json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
               "note": note, **extra, "rows": rows}, open(path, "w"), indent=1)
