"""What the kernel-time scripts share (GPU): the seeded problem they time with its float64 reference, contenders
timed in interleaved rounds by CUDA-graph replays (no host time; back to back, which holds an H200 at its power
cap) or as single calls on an idle GPU (idle_gpu_ms: its full clock, as per-call use sees it; `--timing idle` on
the command line of a script that times through timed_ms), the JSON they write, and their command-line options.
Used by scripts in forward/, host/ and backward/ (sweep_*.py, native16.py, read_roofline.py, ab_*.py,
compiled_vs_eager.py); each puts this folder on sys.path before importing it."""
import ast
import collections
import json
import statistics
import sys
import time

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


SPIN_CYCLES = 2_000_000  # ~1 ms at the H200's 1980 MHz: longer than a contender's host launch, GC pauses aside


def idle_gpu_ms(fns, gap_ms=1.0, calls=50, rounds=3):
    """{name: ms}: GPU time of single calls on a GPU that sat idle for gap_ms before each (so at its unthrottled
    clock, as between a host-bound loop's or KernelBench's per-call timings; back-to-back replays hold an H200 at its
    power cap, 1455-1800 MHz against 1980: session 26), the median of `calls` per round, each contender's in turn
    over `rounds` rounds (median). A GPU spin holds the stream while the host launches the call, so the events
    around it see GPU time, not the launch; a call whose launch outlasted the spin (a host pause) is timed again,
    and more late calls than `calls` are an error."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()  # untimed: a first call's one-off host work (a handle, a plan) is not a launch
            per_call, late = [], 0
            while len(per_call) < calls:
                torch.cuda.synchronize()
                time.sleep(gap_ms / 1000)
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda._sleep(SPIN_CYCLES)
                start.record()
                fn()
                end.record()
                launched_late = start.query()  # the spin was over before the host had queued the whole call
                end.synchronize()
                if not launched_late:
                    per_call.append(start.elapsed_time(end))
                elif (late := late + 1) > calls:
                    raise RuntimeError(f"{name}: its host launch outlasts the GPU spin; raise SPIN_CYCLES")
            times[name].append(statistics.median(per_call))
    return {name: statistics.median(t) for name, t in times.items()}


def timed_ms(fns):
    """{name: ms} by the command line's `--timing`: "graph" (interleaved_ms, the default) or "idle" (idle_gpu_ms)."""
    timing = option("--timing", "graph", str)
    if timing not in ("graph", "idle"):
        sys.exit(f"--timing {timing}: expected graph or idle")
    return interleaved_ms(fns) if timing == "graph" else idle_gpu_ms(fns)


def patched(obj, name, value, fn):
    """fn, run with obj.name set to value (restored after): a switch in host code, so a CUDA graph captured through
    it holds the kernels the switch chose."""
    def run():
        real = getattr(obj, name)
        setattr(obj, name, value)
        try:
            return fn()
        finally:
            setattr(obj, name, real)
    return run


def training_step(model, x, cleared):
    """One training step of model on x: forward + backward of out.sum(), the gradients accumulating into .grad or,
    `cleared`, set to None first (x's and the parameters', as optimizer.zero_grad does by default)."""
    def run():
        if cleared:
            for t in (x, *model.parameters()):
                t.grad = None
        model(x).sum().backward()
    return run


def kernels_per_step(step, steps=10):
    """{kernel name: ms per step} of `step` (a callable) from torch.profiler over `steps` steps after three warm
    ones: GPU time without the host's gaps (which leave the GPU at its unthrottled clock between launches)."""
    from torch.profiler import ProfilerActivity, profile
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    totals = collections.Counter()
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            totals[ev.name[:90]] += ev.device_time / 1000 / steps  # us -> ms
    return dict(totals.most_common())


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
               "timing": option("--timing", "graph", str), "note": note, **extra, "rows": rows},
              open(path, "w"), indent=1)
