"""The few-rows TMA forward (W's tile first, x's rows second), GPU: configs against the one-tile-per-program kernel
and cuBLAS addmm (tf32 for fp32) across small M. Kernel time (CUDA-graph replays, or `--timing idle`), interleaved (3
rounds, medians); rel-L2 against float64. Writes a JSON, prints a table.

    PYTHONPATH=src python3 benchmarks/forward/sweep_few.py OUT.json [--dtype bfloat16] [--shapes "[(M, K, N), ...]"]
        [--timing idle] [--variants "{name: (BLOCK_N, BLOCK_K, most stages, warps), ...}"]
A 16-bit model's variants are written in fp32 units, as the tables are (BLOCK_K doubles for 16-bit operands).

(session5/split/: the first split-K kernel, x first, swept by benchmarks/sweep_split.py at commit 8bfa023.)
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import option, problem, rel_l2, timed_ms, write_json  # noqa: E402

import lsemish.model_new as mn  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402

TABLE = mn._TF32_TMA_CONFIGS["sm90"]
SHIPPED = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TABLE.items()}
# name: (BLOCK_N, BLOCK_K, most stages, num_warps), "shipped", or None: one tile per program
VARIANTS = {"64x64 4w": (64, 64, 8, 4), "128x64 4w": (128, 64, 8, 4),
            "128x128 8w": (128, 128, 8, 8), "256x64 8w": (256, 64, 8, 8)}
SHAPES = [(m, 8192, 8192) for m in (1, 4, 16, 32, 64)] + [(16, 4096, 32000), (8, 8192, 128256)]


def use(variant):
    TABLE.clear()
    TABLE.update({k: (dict(v) if isinstance(v, dict) else v) for k, v in SHIPPED.items()})
    if variant is None:
        TABLE["FEW_M"] = 0
    elif variant != "shipped":
        bn, bk, stages, warps = variant
        TABLE.update(FEW_M=128, few=dict(BLOCK_M=64, BLOCK_N=bn, BLOCK_K=bk, num_warps=warps, num_stages=stages))
    mn._PLANS.clear()  # plans hold the config they were made with


def main(out_path, shapes=SHAPES, variants=VARIANTS, dtype="float32"):
    torch.backends.cuda.matmul.allow_tf32 = True
    variants = {"tiles": None, "shipped": "shipped", **variants}
    rows = []
    for M, K, N in shapes:
        x, w, b, gold = problem(M, K, N)
        x, w, b = (t.to(getattr(torch, dtype)) for t in (x, w, b))
        fns = {"cublas": lambda: torch.addmm(b, x, w.T)}
        errs, plans = {}, {}
        for name, variant in variants.items():
            use(variant)
            errs[name] = rel_l2(mn.linear_lse_mish(x, w, b, *CONSTANTS), gold)
            plan = next(p for key, p in mn._PLANS.items() if key[0] == "tma")
            kind = "few" if plan.kernel is mn._tf32_lse_mish_few_rows_kernel else "tiles"
            plans[name] = (kind, plan.cfg["BLOCK_M"], plan.cfg["num_stages"])
            fns[name] = (lambda v: (lambda: (use(v), mn.linear_lse_mish(x, w, b, *CONSTANTS))))(variant)
        ms = timed_ms(fns)
        base = ms["cublas"]
        for name in variants:
            kind, block_m, stages = plans[name]
            rows.append({"M": M, "K": K, "N": N, "dtype": dtype, "variant": name, "kernel": kind, "block_m": block_m,
                         "stages": stages, "ms": ms[name], "cublas_ms": base, "x_cublas": ms[name] / base,
                         "rel_l2": errs[name]})
            print(f"{M}x{K}x{N} {name:12s} {kind:5s} x rows {block_m:3d} stages {stages}  {ms[name]:.4f} ms  "
                  f"{ms[name] / base:.2f}x cuBLAS ({base:.4f})  rel-L2 {errs[name]:.2e}", flush=True)
    use("shipped")
    write_json(out_path, "GPU time by the 'timing' field's method (graph_timing.timed_ms): kernel time without host "
                         "overhead; 3 interleaved rounds, medians", rows)


if __name__ == "__main__":
    main(sys.argv[1], option("--shapes", SHAPES), option("--variants", VARIANTS), option("--dtype", "float32", str))
