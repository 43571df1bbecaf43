"""The few-rows TMA forward (W's tile first, x's rows second), GPU: configs against the one-tile-per-program kernel
and cuBLAS tf32 addmm across small M. Kernel time of CUDA-graph replays, interleaved (3 rounds, medians); rel-L2
against float64. Writes a JSON, prints a table.

    PYTHONPATH=src python3 benchmarks/sweep_few.py OUT.json

(session5/split/: the first split-K kernel, x first, swept by benchmarks/sweep_split.py at commit 8bfa023.)
"""
import json
import statistics
import sys

import torch
import triton

import lsemish.model_new as mn
from lsemish.problem import reference_forward

TABLE = mn._TF32_TMA_CONFIGS["sm90"]
SHIPPED = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TABLE.items()}
# name: (BLOCK_N, BLOCK_K, most stages, num_warps), "shipped", or None: one tile per program
VARIANTS = {"tiles": None, "shipped": "shipped", "64x64 4w": (64, 64, 8, 4), "128x64 4w": (128, 64, 8, 4),
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
    mn._TMA_PLANS.clear()  # plans hold the config they were made with


def main(out_path):
    torch.backends.cuda.matmul.allow_tf32 = True
    rows = []
    for M, K, N in SHAPES:
        torch.manual_seed(0)
        x = torch.rand(M, K, device="cuda")
        w = torch.randn(N, K, device="cuda") / K**0.5
        b = torch.randn(N, device="cuda")
        gold = reference_forward(x.double(), w.double(), b.double(), 2.0, -10.0, 10.0)
        fns = {"cublas-tf32": lambda: torch.addmm(b, x, w.T)}
        errs, plans = {}, {}
        for name, variant in VARIANTS.items():
            use(variant)
            out = mn.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0)
            errs[name] = float((out.double() - gold).norm() / gold.norm())
            plan = next(iter(mn._TMA_PLANS.values()))
            kind = "few" if plan.kernel is mn._tf32_lse_mish_few_rows_kernel else "tiles"
            plans[name] = (kind, plan.cfg["BLOCK_M"], plan.cfg["num_stages"])
            fns[name] = (lambda v: (lambda: (use(v), mn.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0))))(variant)
        times = {k: [] for k in fns}
        for _ in range(3):
            for k, fn in fns.items():
                times[k].append(triton.testing.do_bench_cudagraph(fn, rep=60))
        base = statistics.median(times["cublas-tf32"])
        for name in VARIANTS:
            ms = statistics.median(times[name])
            kind, block_m, stages = plans[name]
            rows.append({"M": M, "K": K, "N": N, "variant": name, "kernel": kind, "block_m": block_m,
                         "stages": stages, "ms": ms, "cublas_ms": base, "x_cublas": ms / base,
                         "rel_l2": errs[name]})
            print(f"{M}x{K}x{N} {name:12s} {kind:5s} x rows {block_m:3d} stages {stages}  {ms:.4f} ms  "
                  f"{ms / base:.2f}x cuBLAS ({base:.4f})  rel-L2 {errs[name]:.2e}", flush=True)
    use("shipped")
    json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
               "note": "GPU time of CUDA-graph replays (do_bench_cudagraph, rep=60): kernel time without host "
                       "overhead; 3 interleaved rounds, medians", "rows": rows}, open(out_path, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
