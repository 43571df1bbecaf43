"""Configs of the backward's P -> G kernel (_lse_mish_grad_kernel) for a 16-bit model (GPU, issue 23): kernel time of
CUDA-graph replays, interleaved (3 rounds, medians), and the bytes it moves per second (P read in fp32, G written
in the model's dtype); every config's G against the first config's (identical: elementwise) and its db's relative
difference (the column sums group rows by BLOCK_M).

    PYTHONPATH=src python3 benchmarks/backward/sweep_g_kernel.py OUT.json [--shape M,K,N] [--dtype bfloat16]
        [--configs "[(BLOCK_M, BLOCK_N, warps, stages), ...]"]
"""
import os
import sys

import torch
import triton

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import dtype_of, interleaved_ms, option, shape_of, training_state, write_json  # noqa: E402

import lsemish.model_new as mn  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402

CONFIGS = [(128, 32, 4, 3), (64, 64, 4, 3), (32, 128, 4, 3), (64, 128, 8, 3), (16, 256, 4, 3), (32, 64, 4, 4),
           (128, 64, 8, 2), (64, 32, 4, 4)]


def main(out_path, shape, configs, dtype):
    M, K, N = shape
    x, w, b, lse, p, g = training_state(M, K, N, dtype)
    fns, outs = {}, {}
    for cfg in configs:
        bm, bn, warps, stages = cfg
        g_hi = torch.full((M, N), float("nan"), device="cuda", dtype=dtype)
        db = torch.full((N,), float("nan"), device="cuda", dtype=dtype)
        fns[cfg] = (lambda bm, bn, warps, stages, g_hi, db: lambda: mn._lse_mish_grad_kernel[(triton.cdiv(N, bn),)](
            p, lse, g, g_hi, g_hi, db, M, N, g.stride(0), *CONSTANTS, MODE=3, HAS_BIAS=True, FROM_E=mn._saves_e(p),
            BLOCK_M=bm, BLOCK_N=bn,
            STAGES=stages, num_warps=warps))(bm, bn, warps, stages, g_hi, db)
        fns[cfg]()
        outs[cfg] = (g_hi, db)
    ms = interleaved_ms(fns)
    first = outs[configs[0]]
    moved = M * N * (4 + torch.finfo(dtype).bits // 8)
    rows = []
    for cfg, t in ms.items():
        same = torch.equal(outs[cfg][0], first[0])
        db_rel = float((outs[cfg][1].double() - first[1].double()).norm() / first[1].double().norm())
        rows.append({"config": cfg, "ms": t, "tb_per_s": moved / t / 1e9, "g_same_as_first": same, "db_rel": db_rel})
        print(f"{str(cfg):22s} {t:.4f} ms  {moved / t / 1e9:.2f} TB/s  G same as first: {same}  db rel {db_rel:.1e}",
              flush=True)
    write_json(out_path, f"P -> G kernel at {M}x{K}x{N}, {dtype}; kernel time of CUDA-graph replays, interleaved",
               rows, command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], option("--shape", (1024, 8192, 8192), shape_of), option("--configs", CONFIGS),
         option("--dtype", torch.bfloat16, dtype_of))
