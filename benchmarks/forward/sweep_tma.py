"""Tile configs of the TMA forward across M (GPU): GPU time against cuBLAS addmm of the same dtype (tf32 for fp32),
interleaved (3 rounds, medians), and rel-L2 against float64. Writes a JSON and prints a table. `--dtype bfloat16` or
`float16` sweeps a 16-bit model's forward (issue 23); its configs are written in fp32 units, as the tables are (the
kernel doubles BLOCK_K for 16-bit operands, so that a stage holds the same bytes).

    PYTHONPATH=src python3 benchmarks/forward/sweep_tma.py OUT.json
        [--configs "[(BM, BN, BK, warps, stages[, GROUP_M]), ...]"] [--shapes "[(M, K, N), ...]"] [--dtype bfloat16]
        [--timing idle]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import option, problem, rel_l2, timed_ms, write_json  # noqa: E402

import lsemish.model_new as mn  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402

# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages[, GROUP_M (default 8)])
CONFIGS = [(64, 64, 64, 4, 6), (64, 128, 32, 4, 6), (64, 64, 128, 4, 3), (64, 32, 128, 4, 4), (64, 128, 64, 4, 4),
           (64, 256, 32, 4, 4), (128, 64, 64, 8, 4), (128, 128, 32, 8, 4), (128, 128, 64, 8, 3),
           (128, 256, 32, 8, 3)]
SHAPES = [(1, 8192, 8192), (16, 8192, 8192), (64, 8192, 8192), (128, 8192, 8192), (256, 8192, 8192),
          (333, 1000, 3000), (1024, 8192, 8192)]


def use(cfg):
    bm, bn, bk, warps, stages, group_m = (*cfg, 8)[:6]
    d = dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=group_m, num_warps=warps, num_stages=stages)
    # every M through the one-tile-per-program kernel in this config (not the few-rows kernel, nor "small")
    mn._TF32_TMA_CONFIGS["sm90"].update(FEW_M=0, SMALL_M=0, large=d)
    mn._PLANS.clear()  # plans hold the config they were made with


def main(out_path, configs=CONFIGS, shapes=SHAPES, dtype="float32"):
    torch.backends.cuda.matmul.allow_tf32 = True
    rows = []
    for M, K, N in shapes:
        x, w, b, gold = problem(M, K, N)
        x, w, b = (t.to(getattr(torch, dtype)) for t in (x, w, b))
        fns = {"cublas": lambda: torch.addmm(b, x, w.T)}  # of x's dtype (tf32 for fp32)
        errs = {}
        for cfg in configs:
            use(cfg)
            errs[cfg] = rel_l2(mn.linear_lse_mish(x, w, b, *CONSTANTS), gold)
            fns[cfg] = (lambda c: (lambda: (use(c), mn.linear_lse_mish(x, w, b, *CONSTANTS))))(cfg)
        ms = timed_ms(fns)
        base = ms["cublas"]
        for cfg in configs:
            rows.append({"M": M, "K": K, "N": N, "dtype": dtype, "config": cfg, "ms": ms[cfg], "cublas_ms": base,
                         "x_cublas": ms[cfg] / base, "rel_l2": errs[cfg]})
            print(f"{M}x{K}x{N} {str(cfg):24s} {ms[cfg]:.4f} ms  {ms[cfg] / base:.2f}x cuBLAS ({base:.4f})  "
                  f"rel-L2 {errs[cfg]:.2e}", flush=True)
    write_json(out_path, "GPU time by the 'timing' field's method (graph_timing.timed_ms): kernel time without host "
               "overhead", rows)


if __name__ == "__main__":
    main(sys.argv[1], option("--configs", CONFIGS), option("--shapes", SHAPES), option("--dtype", "float32", str))
