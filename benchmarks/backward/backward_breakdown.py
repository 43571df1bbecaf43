"""Where forward + backward time and memory go at the headline shape (GPU): each backward stage alone, next to the
cuBLAS products eager autograd runs. Prints one JSON line per row; the last lines are a table.

    PYTHONPATH=src python benchmarks/backward/backward_breakdown.py [--precision tf32]
"""
import argparse
import json

import torch
import triton

from lsemish import model_new as mn
from lsemish.problems.problem22 import CONSTANTS

# (BLOCK_M, BLOCK_N, num_warps, stages) of the P -> G kernel
GRAD_SWEEP = [(64, 32, 4, 1), (64, 32, 4, 3), (128, 32, 4, 3), (32, 64, 4, 3), (64, 64, 8, 3), (128, 16, 4, 3),
              (32, 32, 4, 4), (16, 64, 4, 4)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", default="tf32")
    ap.add_argument("--shape", default="1024,8192,8192")
    ap.add_argument("--grad-sweep", action="store_true", help="time several configs of the P -> G kernel")
    args = ap.parse_args()
    M, K, N = (int(v) for v in args.shape.split(","))
    torch.manual_seed(0)
    lin = torch.nn.Linear(K, N).cuda()
    w, b = lin.weight.detach(), lin.bias.detach()
    x = torch.rand(M, K, device="cuda")
    g = torch.randn(M, 1, device="cuda")
    consts, prec = CONSTANTS, args.precision
    mode = mn._MODE_OF[prec]
    arch = mn._arch_key(x.device)
    rows = []

    def add(name, fn):
        fn()
        torch.cuda.synchronize()
        ms = triton.testing.do_bench(fn, warmup=25, rep=200)
        rows.append({"name": name, "ms": ms})
        print(json.dumps(rows[-1]), flush=True)

    op = torch.ops.lsemish.linear_lse_mish
    add("forward (inference, no P)", lambda: op(x, w, b, *consts, prec, False))
    add("forward (training, stores P)", lambda: op(x, w, b, *consts, prec, True))
    _, lse, p = op(x, w, b, *consts, prec, True)
    p0 = p
    g_hi = torch.empty(M, N, device="cuda", dtype=mn._B_DTYPE[mode])
    g_lo = torch.empty(M, N, device="cuda") if mode == 1 else g_hi
    db = torch.empty(N, device="cuda")
    shipped = tuple(mn._GRAD_CONFIGS[x.element_size()][k] for k in ("BLOCK_M", "BLOCK_N", "num_warps", "STAGES"))
    for cfg in [shipped] + [c for c in GRAD_SWEEP if args.grad_sweep and c != shipped]:
        bm, bn, warps, stages = cfg
        add(f"grad kernel: P -> G (+ db) {cfg}", lambda bm=bm, bn=bn, warps=warps, stages=stages:
            mn._lse_mish_grad_kernel[(triton.cdiv(N, bn),)](
                p0, lse, g, g_hi, g_lo, db, M, N, 1, *consts, MODE=mode, HAS_BIAS=True, FROM_E=mn._saves_e(p0),
                BLOCK_M=bm, BLOCK_N=bn,
                STAGES=stages, num_warps=warps))
    dx = torch.empty(M, K, device="cuda")
    dw = torch.empty(N, K, device="cuda")
    lo = g_lo if mode == 1 else None
    add("dX GEMM (W^T register operand, G prepared)", lambda: mn._register_grad_product(
        arch, mode, w, g_hi, lo, dx, (1, K)))
    add("prepare x^T", lambda: mn._prepare_b(x.t(), mode))
    xt_hi, xt_lo = mn._prepare_b(x.t(), mode)
    add("dW GEMM (G^T register operand, x^T prepared)", lambda: mn._register_grad_product(
        arch, mode, g_hi, xt_hi, xt_lo, dw, (K, 1)))

    def whole_backward():
        g_hi, g_lo, db = torch.ops.lsemish.lse_mish_grad(g, x, lse, p, *consts, prec, True)
        return torch.ops.lsemish.linear_grads(g_hi, g_lo, x, w, prec, True, True) + (db,)
    add("backward (both ops)", whole_backward)

    torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
    G = torch.randn(M, N, device="cuda")
    add("cuBLAS G @ W (eager's dX)", lambda: G @ w)
    add("cuBLAS G^T @ x (eager's dW)", lambda: G.T @ x)
    add("cuBLAS x @ W^T + b (eager's forward)", lambda: torch.addmm(b, x, w.T))
    torch.backends.cuda.matmul.allow_tf32 = False

    # memory: peak over the backward alone (P freed between its two ops, as autograd does), above what was
    # allocated before it; the outputs dx, dW, db are part of it
    del G, g_hi, g_lo, dx, dw, xt_hi, xt_lo
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    g_hi, g_lo, db = torch.ops.lsemish.lse_mish_grad(g, x, lse, p, *consts, prec, True)
    del p
    out = torch.ops.lsemish.linear_grads(g_hi, g_lo, x, w, prec, True, True) + (db,)
    torch.cuda.synchronize()
    mem = {"backward_peak_above_before_mib": (torch.cuda.max_memory_allocated() - before) / 2**20,
           "outputs_mib": sum(t.numel() * t.element_size() for t in out) / 2**20, "p_freed_mib": M * N * 4 / 2**20}
    print(json.dumps(mem))
    print(f"\n{'stage':48s} ms   ({prec}, {M}x{K}x{N}, {torch.cuda.get_device_name()})")
    for r in rows:
        print(f"{r['name']:48s} {r['ms']:.4f}")


if __name__ == "__main__":
    main()
