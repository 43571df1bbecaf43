"""Tile configs of the 16-bit backward products (GPU, issue 23): dX = G W and dW = G^T x of a bf16 (or fp16) model,
both operands through TMA into shared memory (_smem_grad_product_kernel), kernel time (CUDA-graph replays, or single
calls on an idle GPU with `--timing idle`), interleaved (3 rounds, medians), next to cuBLAS's products of the same
dtype (torch.mm, as eager autograd runs them); each config's result against cuBLAS's (rel-L2).

    PYTHONPATH=src python3 benchmarks/backward/sweep_smem_grad.py OUT.json [--shape M,K,N] [--dtype bfloat16]
        [--timing idle] [--configs "[(BLOCK_R, BLOCK_C, BLOCK_K, GROUP_M, warps, stages[, TMA_STORE]), ...]"]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import dtype_of, option, shape_of, timed_ms, training_state, write_json  # noqa: E402

import lsemish.model_new as mn  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402

# (BLOCK_R, BLOCK_C, BLOCK_K in 16-bit elements, GROUP_M, warps, stages[, TMA_STORE: the tile stored by a bulk copy]);
# the first is the shipped one
CONFIGS = [(128, 128, 64, 8, 8, 4), (128, 128, 64, 8, 8, 4, True), (128, 256, 64, 8, 8, 3),
           (128, 256, 64, 8, 8, 3, True), (256, 128, 64, 8, 8, 3, True), (128, 128, 64, 8, 4, 4, True),
           (128, 128, 64, 8, 8, 6, True), (128, 256, 64, 8, 8, 4, True), (128, 128, 128, 8, 8, 3, True),
           (64, 256, 64, 8, 4, 4, True)]


def main(out_path, shape, configs, dtype):
    M, K, N = shape
    x, w, b, lse, p, g = training_state(M, K, N, dtype)
    g_hi, _, _ = torch.ops.lsemish.lse_mish_grad(g, x, lse, p, *CONSTANTS, "tf32", False)
    dx, dw = torch.empty(M, K, device="cuda", dtype=dtype), torch.empty(N, K, device="cuda", dtype=dtype)
    fns = {"cublas dX": lambda: torch.mm(g_hi, w), "cublas dW": lambda: torch.mm(g_hi.t(), x)}
    want = {"dX": (g_hi.double() @ w.double()), "dW": (g_hi.double().t() @ x.double())}
    table = mn._SMEM_GRAD_CONFIGS
    errs = {"cublas dX": float((fns["cublas dX"]().double() - want["dX"]).norm() / want["dX"].norm()),
            "cublas dW": float((fns["cublas dW"]().double() - want["dW"]).norm() / want["dW"].norm())}
    for cfg in configs:
        r, c, k, group, warps, stages, tma_store = (*cfg, False)[:7]
        tile = dict(BLOCK_R=r, BLOCK_C=c, BLOCK_K=k, GROUP_M=group, num_warps=warps, num_stages=stages,
                    TMA_STORE=tma_store)
        fns[("dX", cfg)] = (lambda t: lambda: (table.__setitem__("sm90", t), mn._smem_grad_product(
            "sm90", g_hi, w, dx, False)))(tile)
        fns[("dW", cfg)] = (lambda t: lambda: (table.__setitem__("sm90", t), mn._smem_grad_product(
            "sm90", g_hi, x, dw, True)))(tile)
        for role, out in (("dX", dx), ("dW", dw)):
            out.fill_(float("nan"))
            try:
                fns[(role, cfg)]()
            except Exception as e:  # a config that does not fit (shared memory): say so, time the rest
                print(f"{role} {cfg}: {type(e).__name__}: {str(e)[:200]}", flush=True)
                del fns[(role, cfg)]
                continue
            errs[(role, cfg)] = float((out.double() - want[role]).norm() / want[role].norm())
    ms = timed_ms(fns)
    rows = []
    for name, t in ms.items():
        role = name[0] if isinstance(name, tuple) else name.split()[1]
        base = ms[f"cublas {role}"]
        row = {"name": str(name), "ms": t, "x_cublas": t / base, "rel_l2_vs_fp64": errs[name]}
        rows.append(row)
        print(f"{str(name):40s} {t:.4f} ms  {row['x_cublas']:.3f}x cuBLAS  rel {row['rel_l2_vs_fp64']:.1e}", flush=True)
    write_json(out_path, f"16-bit backward products at {M}x{K}x{N}, {dtype}; kernel time by the 'timing' "
               "field's method (graph_timing.timed_ms), interleaved, medians of 3", rows, command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], option("--shape", (1024, 8192, 8192), shape_of), option("--configs", CONFIGS),
         option("--dtype", torch.bfloat16, dtype_of))
