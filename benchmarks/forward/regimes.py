"""Do lsemish's 16-bit kernels stand where the sweeps say against cuBLAS in every timing regime and on every data?
(issue 23.) Session 25's step profile put the bf16 products at 1.09x cuBLAS's in a training step (0.387 against
0.354 ms), where the product sweep, on other data and by back-to-back CUDA-graph replays, read 0.99x and 1.05x. An
H200 draws more power on random operands than on structured ones (KINDS.md: 788 against 894 TFLOP/s, random against
zeros) and lowers its clock when power is the limit, which can hide one kernel's extra instructions behind
another's. This times the same contenders, interleaved in one process:

- contenders: the forward (cuBLAS `addmm`; lsemish inference; lsemish's training forward, which also saves E for a
  bf16 model, and the same saving P, as before session 26), the backward's G kernel from E and from P, and the two
  backward products (cuBLAS `mm`; lsemish's `_smem_grad_product`), at one shape and dtype;
- data: "problem" (graph_timing.problem: x rand, W randn / sqrt K, b randn, upstream gradient randn) and "model"
  (what a training step of ModelNew sees: nn.Linear's initial W and b, x rand, the upstream gradient of out.sum());
- regimes: "graph" (do_bench_cudagraph: replays back to back, the sweeps' regime until session 26), "idle"
  (graph_timing.idle_gpu_ms: single calls, the GPU idle for 1 ms before each and the call queued behind a GPU spin,
  so the events see its GPU time at the unthrottled clock) and "per-call" (single calls between CUDA events after
  1 ms idle, not queued: the host's launch included, as KernelBench's per-call timing sees it); "profiler" checks
  "idle" by other means (torch.profiler's kernel times of single calls after 1 ms idle, mean per call);
- the SM clock and power during each contender's timing (torch.cuda.clock_rate / power_draw, sampled), where the
  machine's NVML answers.

    PYTHONPATH=src python3 benchmarks/forward/regimes.py OUT.json [--shape M,K,N] [--dtype bfloat16]
        [--data "['model', 'problem']"] [--calls 50]
"""
import os
import statistics
import sys
import threading
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import (dtype_of, idle_gpu_ms, interleaved_ms, option, patched, problem, shape_of,  # noqa: E402
                          write_json)

import lsemish.model_new as mn  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402


def operands(data, M, K, N, dtype):
    """x, W, b in dtype and the upstream gradient g (M, 1) of the named data."""
    if data == "problem":
        x, w, b, _ = problem(M, K, N)
        g = torch.randn(M, 1, device="cuda")
    else:
        torch.manual_seed(0)
        linear = torch.nn.Linear(K, N, device="cuda")  # the model's initialisation (ModelNew.matmul)
        w, b = linear.weight.detach(), linear.bias.detach()
        x = torch.rand(M, K, device="cuda")
        g = torch.ones(M, 1, device="cuda")  # d out.sum() / d out
    return x.to(dtype), w.to(dtype), b.to(dtype), g.to(dtype)


def saving_p(fn):
    """fn with model_new.p_dtype answering P's dtype: the training forward saves P (fp32), as bf16 models did before
    session 26."""
    return patched(mn, "p_dtype", lambda x, lo, hi: mn.epilogue_dtype(x), fn)


def contenders(x, w, b, g):
    M, K, N = x.shape[0], x.shape[1], w.shape[0]
    train = lambda: torch.ops.lsemish.linear_lse_mish(x, w, b, *CONSTANTS, "tf32", True)  # noqa: E731
    _, lse, p = train()  # E for a bf16 model (problem 22's clamp), P otherwise
    _, lse_p, p_p = saving_p(train)()
    G, _, _ = torch.ops.lsemish.lse_mish_grad(g, x, lse, p, *CONSTANTS, "tf32", False)
    dx, dw = torch.empty(M, K, device="cuda", dtype=x.dtype), torch.empty(N, K, device="cuda", dtype=x.dtype)
    return {
        "fwd cublas": lambda: torch.addmm(b, x, w.T),
        "fwd lsemish": lambda: mn.linear_lse_mish(x, w, b, *CONSTANTS),
        "fwd lsemish train": train,
        "fwd lsemish train P": saving_p(train),
        "G lsemish": lambda: torch.ops.lsemish.lse_mish_grad(g, x, lse, p, *CONSTANTS, "tf32", False),
        "G lsemish P": lambda: torch.ops.lsemish.lse_mish_grad(g, x, lse_p, p_p, *CONSTANTS, "tf32", False),
        "dX cublas": lambda: torch.mm(G, w),
        "dX lsemish": lambda: mn._smem_grad_product("sm90", G, w, dx, False),
        "dW cublas": lambda: torch.mm(G.t(), x),
        "dW lsemish": lambda: mn._smem_grad_product("sm90", G, x, dw, True),
    }


class Sampler:
    """The SM clock (MHz) and power (mW) sampled every 20 ms while in use; None where NVML does not answer."""

    def __init__(self):
        self.samples, self.running = [], False

    def __enter__(self):
        self.samples, self.running = [], True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while self.running:
            try:
                self.samples.append((torch.cuda.clock_rate(), torch.cuda.power_draw()))
            except Exception:  # no NVML here
                return
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    def summary(self):
        if not self.samples:
            return None
        return {"sm_mhz_median": statistics.median(s[0] for s in self.samples),
                "power_w_median": statistics.median(s[1] for s in self.samples) / 1000}


def per_call_ms(fn, calls):
    """Median of `calls` single calls, each between CUDA events, the GPU idle for 1 ms before each (the host's
    launch inside the events)."""
    times = []
    for _ in range(calls):
        torch.cuda.synchronize()
        time.sleep(0.001)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def profiled_ms(fn, calls):
    """Kernel time per call from torch.profiler (the device's own start and end of each kernel, summed over the
    call's kernels), single calls after 1 ms idle: a check on "idle" by other means."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            torch.cuda.synchronize()
            time.sleep(0.001)
            fn()
        torch.cuda.synchronize()
    return sum(ev.device_time for ev in prof.events()
               if ev.device_type == torch.autograd.DeviceType.CUDA) / 1000 / calls  # us -> ms


REGIMES = {"graph": lambda name, fn, calls: interleaved_ms({name: fn}, rounds=1)[name],
           "idle": lambda name, fn, calls: idle_gpu_ms({name: fn}, calls=calls, rounds=1)[name],
           "profiler": lambda name, fn, calls: profiled_ms(fn, calls),
           "per-call": lambda name, fn, calls: per_call_ms(fn, calls)}


def main(out_path, shape, dtype, datas, calls):
    M, K, N = shape
    rows = []
    for data in datas:
        fns = contenders(*operands(data, M, K, N, dtype))
        for fn in fns.values():  # compile and warm everything before timing anything
            fn()
        torch.cuda.synchronize()
        for regime, timer in REGIMES.items():
            ms, clocks = {}, {}
            for _ in range(3):  # interleaved rounds
                for name, fn in fns.items():
                    with Sampler() as s:
                        ms.setdefault(name, []).append(timer(name, fn, calls))
                    clocks.setdefault(name, []).append(s.summary())
            for name in fns:
                t = statistics.median(ms[name])
                base = ms.get(name.split()[0] + " cublas")  # G: no cuBLAS counterpart
                base = t if base is None else statistics.median(base)
                row = {"data": data, "regime": regime, "contender": name, "ms": t, "x_cublas": t / base,
                       "rounds_ms": ms[name], "clocks": clocks[name], "unix_time": time.time()}
                rows.append(row)
                clock = clocks[name][-1]
                print(f"{data:8s} {regime:8s} {name:18s} {t:.4f} ms  {t / base:.3f}x cuBLAS  "
                      f"{'' if clock is None else '%(sm_mhz_median)d MHz %(power_w_median).0f W' % clock}",
                      flush=True)
    write_json(out_path, "GPU time by regime and data (see the script's docstring); x_cublas: against cuBLAS's "
               "product of the same role, data and regime", rows, shape=[M, K, N], dtype=str(dtype),
               command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], option("--shape", (1024, 8192, 8192), shape_of), option("--dtype", torch.bfloat16, dtype_of),
         option("--data", ["model", "problem"]), option("--calls", 50))
