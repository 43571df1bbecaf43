"""The split-K TMA forward for a few rows of x (GPU): configs and K-part counts against the one-tile-per-program
kernel and cuBLAS tf32 addmm. Kernel time of CUDA-graph replays, interleaved (3 rounds, medians); rel-L2 against
float64. Writes a JSON and prints a table. "crossover": M = 1..16 at 8192 x 8192, the shipped split config (made
available up to 256 rows) against the one-tile-per-program kernel.

    PYTHONPATH=src python3 benchmarks/sweep_split.py OUT.json [crossover]
"""
import json
import statistics
import sys

import torch
import triton

import lsemish.model_new as mn
from lsemish.problem import reference_forward

TABLE = mn._TF32_TMA_CONFIGS["sm90"]
SHIPPED = dict(TABLE)
# name: (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages, SPLIT_WAVES, MAX_SPLIT), or None: no split kernel
VARIANTS = {"tiles": None, "shipped": "shipped",
            "64x128x64 w2": (64, 128, 64, 4, 4, 2, 16), "64x128x64 w8": (64, 128, 64, 4, 4, 8, 32),
            "64x64x128 w4 s3": (64, 64, 128, 4, 3, 4, 16), "64x128x128 w4 s2": (64, 128, 128, 4, 2, 4, 16),
            "64x256x32 w4": (64, 256, 32, 4, 4, 4, 16), "64x128x32 w4 s6": (64, 128, 32, 4, 6, 4, 16)}
CROSSOVER = {"tiles": None, "64x128x64 w4": (64, 128, 64, 4, 4, 4, 16)}
SHAPES = [(1, 8192, 8192), (16, 8192, 8192), (64, 8192, 8192), (128, 8192, 8192), (256, 8192, 8192),
          (16, 4096, 32000), (333, 1000, 3000)]


def use(variant):
    TABLE.clear()
    TABLE.update(SHIPPED)
    if variant is None:
        TABLE["SPLIT_M"] = 0
    elif variant != "shipped":
        bm, bn, bk, warps, stages, waves, most = variant
        TABLE.update(SPLIT_M=256, SPLIT_WAVES=waves, MAX_SPLIT=most,
                     split=dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, num_warps=warps, num_stages=stages))
    mn._TMA_PLANS.clear()  # plans hold the config they were made with


def main(out_path, crossover=False):
    global VARIANTS, SHAPES
    if crossover:
        VARIANTS, SHAPES = CROSSOVER, [(m, 8192, 8192) for m in (1, 2, 4, 8, 16)]
    torch.backends.cuda.matmul.allow_tf32 = True
    rows = []
    for M, K, N in SHAPES:
        torch.manual_seed(0)
        x = torch.rand(M, K, device="cuda")
        w = torch.randn(N, K, device="cuda") / K**0.5
        b = torch.randn(N, device="cuda")
        gold = reference_forward(x.double(), w.double(), b.double(), 2.0, -10.0, 10.0)
        fns = {"cublas-tf32": lambda: torch.addmm(b, x, w.T)}
        errs, parts = {}, {}
        for name, variant in VARIANTS.items():
            use(variant)
            out = mn.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0)
            errs[name] = float((out.double() - gold).norm() / gold.norm())
            plan = next(iter(mn._TMA_PLANS.values()))
            parts[name] = plan.meta.get("SPLIT_K", 0)
            fns[name] = (lambda v: (lambda: (use(v), mn.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0))))(variant)
        times = {k: [] for k in fns}
        for _ in range(3):
            for k, fn in fns.items():
                times[k].append(triton.testing.do_bench_cudagraph(fn, rep=60))
        base = statistics.median(times["cublas-tf32"])
        for name in VARIANTS:
            ms = statistics.median(times[name])
            rows.append({"M": M, "K": K, "N": N, "variant": name, "split_k": parts[name], "ms": ms,
                         "cublas_ms": base, "x_cublas": ms / base, "rel_l2": errs[name]})
            print(f"{M}x{K}x{N} {name:18s} parts {parts[name]:2d}  {ms:.4f} ms  {ms / base:.2f}x cuBLAS ({base:.4f})"
                  f"  rel-L2 {errs[name]:.2e}", flush=True)
    use("shipped")
    json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
               "note": "GPU time of CUDA-graph replays (do_bench_cudagraph, rep=60): kernel time without host "
                       "overhead; 3 interleaved rounds, medians", "rows": rows}, open(out_path, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], crossover=sys.argv[2:] == ["crossover"])
