"""16-bit models at cuBLAS's speed? (issue 23) The forward of a bf16 or fp16 model through lsemish (the TMA kernels
since session 10) against cuBLAS `addmm` of the same dtype (the GEMM alone: parity means the fused epilogue is free) and
against lsemish's register-operand kernel (the path 16-bit models took before), GPU time in interleaved rounds (CUDA-
graph replays, or `--timing idle`: single calls on an idle GPU at its unthrottled clock); the error of each against
the float64 result next to eager's in the same dtype; and a bf16 model's training step (forward + backward, its
kernels' GPU time) against eager and torch.compile of the reference. Writes native16.json to OUT (fields as issue 23
names them).

    PYTHONPATH=src python benchmarks/forward/native16.py OUT [--shapes M,K,N;...] [--no-train] [--no-register]
        [--timing idle]
(--no-register: lsemish and cuBLAS alone in the interleaved rounds, without the register-operand path.)
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import kernels_per_step, patched, rel_l2, timed_ms, training_step, write_json  # noqa: E402

import lsemish.model_new as mn  # noqa: E402
from lsemish import ModelNew, linear_lse_mish  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS, Model, reference_forward  # noqa: E402

SHAPES = "1024,8192,8192;4096,8192,50257;16,8192,8192"


def operands(M, K, N, dtype):
    torch.manual_seed(0)
    x = torch.rand(M, K, device="cuda")
    w = torch.randn(N, K, device="cuda") / K**0.5
    b = torch.randn(N, device="cuda")
    gold = reference_forward(x.double(), w.to(dtype).double(), b.to(dtype).double(), *CONSTANTS)
    return x.to(dtype), w.to(dtype), b.to(dtype), gold


def without(switch, fn):
    """fn with model_new's `switch` (a path's "applies" test) answering False: the register-operand kernels, as
    16-bit models ran before session 10 (host code: a graph captured so holds those kernels)."""
    return patched(mn, switch, lambda *a: False, fn)


def forward_rows(shapes, log, register=True):
    rows = []
    for dtype in (torch.bfloat16, torch.float16):
        for M, K, N in shapes:
            x, w, b, gold = operands(M, K, N, dtype)
            out = torch.empty(M, 1, device="cuda", dtype=dtype)
            with torch.no_grad():
                ours = lambda: linear_lse_mish(x, w, b, *CONSTANTS, out=out)  # noqa: E731
                mine = without("_tma_forward_applies", lambda: linear_lse_mish(x, w, b, *CONSTANTS))
                errors = {"lsemish": rel_l2(linear_lse_mish(x, w, b, *CONSTANTS), gold),
                          **({"register": rel_l2(mine(), gold)} if register else {}),
                          "eager": rel_l2(reference_forward(x, w, b, *CONSTANTS), gold),
                          "rounding_floor": rel_l2(gold.to(dtype), gold)}
                y = torch.empty(M, N, device="cuda", dtype=dtype)
                # the switch is host code: a graph captured with it off holds the register-operand kernels
                ms = timed_ms({"lsemish": ours, "cublas": lambda: torch.addmm(b, x, w.t(), out=y),
                                     **({"register": mine} if register else {})})
            name = str(dtype).removeprefix("torch.")
            row = {"dtype": name, "shape": [M, K, N], "lsemish_ms": ms["lsemish"], "cublas_ms": ms["cublas"],
                   "lsemish_over_cublas": ms["lsemish"] / ms["cublas"], "register_ms": ms.get("register"),
                   "rel_l2_vs_fp64": errors}
            rows.append(row)
            log(f"{name} {M}x{K}x{N}: lsemish {ms['lsemish']:.4f} ms, cuBLAS addmm {ms['cublas']:.4f} ms "
                f"({row['lsemish_over_cublas']:.3f}x); register path {ms.get('register', float('nan')):.4f} ms; "
                "rel-L2 "
                + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
            del x, w, b, gold, y
            torch.cuda.empty_cache()
    return rows


def training_row(M, K, N, log):
    """A bf16 model's step: forward + backward of out.sum(); GPU time per step, the kernels' times summed
    (graph_timing.kernels_per_step: torch.profiler, the host's gaps left out, the GPU at its unthrottled clock between
    launches), the contenders in turn over three rounds, medians. Two kinds of step: gradients accumulating into
    .grad (every step adds dW into W.grad, 128 MB of it at this shape, a cost every contender pays alike) and
    gradients cleared before each step (set to None, as optimizer.zero_grad does by default: autograd stores dW as
    it comes). Per-step latency with events (do_bench) was host-bound on the H200's machine (session 25): not used."""
    torch.manual_seed(0)
    args = (K, N, *CONSTANTS)
    ours, ref = ModelNew(*args).cuda().bfloat16(), Model(*args).cuda().bfloat16()
    compiled = torch.compile(Model(*args).cuda().bfloat16())
    x = torch.rand(M, K, device="cuda").bfloat16().requires_grad_(True)

    contenders = {"lsemish": training_step(ours, x, False),
                  "lsemish_register_products": without("_smem_grads_apply", training_step(ours, x, False)),
                  # saving P (fp32) instead of E, as bf16 models did before session 26
                  "lsemish_saving_p": patched(mn, "p_dtype", lambda xx, lo, hi: mn.epilogue_dtype(xx),
                                              training_step(ours, x, False)),
                  "eager": training_step(ref, x, False), "compile": training_step(compiled, x, False),
                  "lsemish_fresh": training_step(ours, x, True), "eager_fresh": training_step(ref, x, True),
                  "compile_fresh": training_step(compiled, x, True)}
    times = {name: [] for name in contenders}
    kernels = {name: [] for name in contenders}
    for _ in range(3):
        for name, fn in contenders.items():
            kernels[name].append(kernels_per_step(fn))
            times[name].append(sum(kernels[name][-1].values()))
    ms = {k: statistics.median(v) for k, v in times.items()}
    for name in contenders:  # the median round's kernels, by kernel
        log(f"  {name}: " + ", ".join(f"{k[:40]} {v:.4f}" for k, v in
                                      kernels[name][times[name].index(ms[name])].items() if v >= 0.001))
    log(f"bf16 training step {M}x{K}x{N}, GPU time, gradients accumulating: lsemish {ms['lsemish']:.4f} ms "
        f"(register-operand products {ms['lsemish_register_products']:.4f}, saving P {ms['lsemish_saving_p']:.4f}), "
        f"eager {ms['eager']:.4f} ms, "
        f"torch.compile {ms['compile']:.4f} ms ({ms['lsemish'] / ms['eager']:.3f}x eager, "
        f"{ms['lsemish'] / ms['compile']:.3f}x compile); gradients cleared each step: lsemish "
        f"{ms['lsemish_fresh']:.4f} ms, eager {ms['eager_fresh']:.4f} ms, torch.compile {ms['compile_fresh']:.4f} ms "
        f"({ms['lsemish_fresh'] / ms['eager_fresh']:.3f}x eager, {ms['lsemish_fresh'] / ms['compile_fresh']:.3f}x "
        "compile)")
    return {"dtype": "bfloat16", "shape": [M, K, N], "lsemish_fwd_bwd_ms": ms["lsemish"],
            "lsemish_register_products_fwd_bwd_ms": ms["lsemish_register_products"],
            "lsemish_saving_p_fwd_bwd_ms": ms["lsemish_saving_p"],
            "eager_fwd_bwd_ms": ms["eager"], "compile_fwd_bwd_ms": ms["compile"],
            "grads_cleared_each_step": {"lsemish_fwd_bwd_ms": ms["lsemish_fresh"],
                                        "eager_fwd_bwd_ms": ms["eager_fresh"],
                                        "compile_fwd_bwd_ms": ms["compile_fresh"]},
            "rounds_ms": times,
            "kernels_ms": {name: kernels[name][times[name].index(ms[name])] for name in contenders}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--shapes", default=SHAPES)
    p.add_argument("--no-train", action="store_true")
    p.add_argument("--no-register", action="store_true")
    p.add_argument("--timing", choices=("graph", "idle"), default="graph")  # the forward's: graph_timing.timed_ms
    a = p.parse_args()
    shapes = [tuple(map(int, s.split(","))) for s in a.shapes.split(";")]
    os.makedirs(a.out, exist_ok=True)

    def log(m):
        print(m, flush=True)
    rows = forward_rows(shapes, log, register=not a.no_register)
    train = [] if a.no_train else [training_row(1024, 8192, 8192, log)]
    write_json(os.path.join(a.out, "native16.json"), "forward: GPU time by the 'timing' field's method "
               "(graph_timing.timed_ms), interleaved, median of 3 rounds; training: GPU time per step (kernels summed, "
               "torch.profiler), interleaved, median of 3 rounds",
               rows, training=train, date=time.strftime("%Y-%m-%d"),
               command="PYTHONPATH=src python " + " ".join(sys.argv))


if __name__ == "__main__":
    main()
