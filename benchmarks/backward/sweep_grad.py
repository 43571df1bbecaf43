"""Tile configs of the backward products (GPU), tf32 mode: dX = G W (dX^T = W^T G^T, W the register operand) and
dW = G^T x (G the register operand, x^T prepared) at one shape, kernel time of CUDA-graph replays, interleaved
(3 rounds, medians), next to cuBLAS's products (torch.mm, TF32); each config's result against the shipped one's.

    PYTHONPATH=src python3 benchmarks/backward/sweep_grad.py OUT.json [--shape M,K,N]
        [--configs "[(BN, BM, BK, GROUP_M, warps, stages), ...]"]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import interleaved_ms, option, problem, shape_of, write_json  # noqa: E402

import lsemish.model_new as mn  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402

CONFIGS = [(128, 128, 32, 8, 8, 3), (128, 256, 32, 8, 8, 3), (256, 128, 32, 8, 8, 3), (128, 128, 64, 8, 8, 3),
           (128, 128, 32, 16, 8, 3), (128, 128, 32, 4, 8, 4), (128, 256, 32, 16, 8, 3), (256, 128, 32, 16, 8, 3)]


def main(out_path, shape, configs):
    torch.backends.cuda.matmul.allow_tf32 = True
    M, K, N = shape
    x, w, b, _ = problem(M, K, N)
    _, lse, p = torch.ops.lsemish.linear_lse_mish(x, w, b, *CONSTANTS, "tf32", True)
    g = torch.randn(M, 1, device="cuda")
    g_hi, _, _ = torch.ops.lsemish.lse_mish_grad(g, x, lse, p, *CONSTANTS, "tf32", False)
    xt_hi, _ = mn._prepare_b(x.t(), 0)
    dx, dw = torch.empty(M, K, device="cuda"), torch.empty(N, K, device="cuda")
    fns = {"cublas dX": lambda: torch.mm(g_hi, w), "cublas dW": lambda: torch.mm(g_hi.t(), x)}
    outs = {}
    table = mn._CONFIGS["sm90"]  # the products read their config from here when they launch

    for cfg in configs:
        tile = mn._register_config(*cfg, True)
        fns[("dX", cfg)] = (lambda t: lambda: (table.__setitem__(0, t), mn._register_grad_product(
            "sm90", 0, w, g_hi, None, dx, (1, K))))(tile)
        fns[("dW", cfg)] = (lambda t: lambda: (table.__setitem__(0, t), mn._register_grad_product(
            "sm90", 0, g_hi, xt_hi, None, dw, (K, 1))))(tile)
        for role in ("dX", "dW"):
            fns[(role, cfg)]()
        outs[cfg] = (dx.clone(), dw.clone())
    ms = interleaved_ms(fns)
    ref = outs[configs[0]]
    rows = []
    for name, t in ms.items():
        row = {"name": str(name), "ms": t}
        if isinstance(name, tuple):
            role, cfg = name
            base = ms[f"cublas {role}"]
            got, want = outs[cfg][role == "dW"], ref[role == "dW"]
            row.update(x_cublas=t / base, rel_to_shipped=float((got - want).norm() / want.norm()))
        rows.append(row)
        print(f"{str(name):40s} {t:.4f} ms" + (f"  {row['x_cublas']:.2f}x cuBLAS  rel {row['rel_to_shipped']:.1e}"
                                               if "x_cublas" in row else ""), flush=True)
    write_json(out_path, f"backward products at {M}x{K}x{N}, tf32 mode; kernel time of CUDA-graph replays", rows,
               command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], option("--shape", (1024, 8192, 8192), shape_of), option("--configs", CONFIGS))
