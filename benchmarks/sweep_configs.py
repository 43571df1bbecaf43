"""Sweep GEMM configs per precision mode at one shape on a GPU, in one process, next to cuBLAS.

Usage (device machine): PYTHONPATH=src python benchmarks/sweep_configs.py --out DIR [--shape M,K,N] [--modes tf32,fp32]
Each config is checked (KernelBench allclose vs eager fp32, rel-L2 vs float64) before it is timed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
import triton

from lsemish import model_new as mn
from lsemish.problem import reference_forward

T, F = True, False
SWEEP = {
    "tf32": [(128, 256, 32, 8, 8, 3, T), (128, 256, 32, 8, 8, 4, T), (128, 256, 32, 8, 8, 3, F),
             (256, 128, 32, 8, 8, 3, T), (256, 128, 32, 8, 8, 4, T), (128, 256, 64, 8, 8, 2, T),
             (128, 128, 32, 8, 8, 4, T)],
    "fp32": [(128, 256, 32, 8, 8, 3, T), (128, 256, 32, 8, 8, 3, F), (128, 128, 32, 8, 8, 4, T),
             (256, 128, 32, 8, 8, 3, T)],
    "bf16": [(128, 256, 64, 8, 8, 3, T), (128, 256, 64, 8, 8, 3, F), (128, 256, 32, 8, 8, 4, T),
             (256, 128, 64, 8, 8, 3, T)],
    "native": [(128, 256, 64, 8, 8, 4, T), (128, 256, 64, 8, 8, 3, T), (256, 128, 64, 8, 8, 3, T)],
}


def timed(fn):
    ms, p20, p80 = triton.testing.do_bench(fn, warmup=50, rep=300, quantiles=[0.5, 0.2, 0.8])
    return {"ms": ms, "p20": p20, "p80": p80}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", default="1024,8192,8192")
    ap.add_argument("--modes", default="tf32,fp32,bf16,native")
    args = ap.parse_args()
    M, K, N = (int(v) for v in args.shape.split(","))
    dev = torch.device("cuda")
    torch.manual_seed(1234)
    x = torch.rand(M, K, device=dev)
    lin = torch.nn.Linear(K, N).to(dev)
    w, b = lin.weight.detach(), lin.bias.detach()
    scale, lo, hi = 2.0, -10.0, 10.0
    gold = reference_forward(x.double(), w.double(), b.double(), scale, lo, hi)
    eager = reference_forward(x, w, b, scale, lo, hi)
    flops = 2.0 * M * N * K
    rows = []

    def add(name, fn, out=None, extra=None):
        t = timed(fn)
        row = {"name": name, **t, "tflops": flops / t["ms"] * 1e-9}
        if out is not None:
            row["rel_l2_vs_fp64"] = float((out.double() - gold).norm() / gold.norm())
            row["max_abs_vs_fp64"] = float((out.double() - gold).abs().max())
            row["allclose_1e-4"] = bool(torch.allclose(out.float(), eager, atol=1e-4, rtol=1e-4))
            row["allclose_1e-2"] = bool(torch.allclose(out.float(), eager, atol=1e-2, rtol=1e-2))
        row.update(extra or {})
        rows.append(row)
        print(json.dumps(row), flush=True)

    torch.backends.cuda.matmul.allow_tf32 = True
    add("cublas-tf32", lambda: torch.addmm(b, x, w.T))
    torch.backends.cuda.matmul.allow_tf32 = False
    xb, wb, bb = x.bfloat16(), w.bfloat16(), b.bfloat16()
    add("cublas-bf16", lambda: torch.addmm(bb, xb, wb.T))
    add("eager-fp32", lambda: reference_forward(x, w, b, scale, lo, hi), eager)

    xp = torch.empty_like(x)
    add("prepare-x (tf32 rounding pass alone)", lambda: mn._prepare_x_kernel[(triton.cdiv(M, 32), triton.cdiv(K, 128))](
        x, xp, M, K, K, 1, MODE=0, BLOCK_M=32, BLOCK_K=128))
    for mode in args.modes.split(","):
        native = mode == "native"
        xi, wi, bi = (xb, wb, bb) if native else (x, w, b)
        for cfg in SWEEP[mode]:
            mn._CONFIGS["sm90"][3 if native else mn._MODE_OF[mode]] = cfg
            prec = "tf32" if native else mode

            def run():
                return mn.linear_lse_mish(xi, wi, bi, scale, lo, hi, prec)
            t0 = time.time()
            out = run()
            torch.cuda.synchronize()
            first = time.time() - t0
            again = run()
            add(f"lsemish-{mode} {cfg}", run, out,
                {"first_call_s": first, "bitwise_repeatable": bool(torch.equal(out, again))})
    torch.backends.cuda.matmul.allow_tf32 = True
    add("cublas-tf32 (again)", lambda: torch.addmm(b, x, w.T))

    meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
            "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv), "M": M, "K": K, "N": N, "rows": rows}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"sweep-{M}x{K}x{N}.json"), "w") as f:
        json.dump(meta, f, indent=1)
    base = next(r["ms"] for r in rows if r["name"] == "cublas-tf32")
    print(f"\n{'name':40s} {'ms':>8s} {'x cublas-tf32':>13s} {'relL2':>9s} ok1e-4")
    for r in rows:
        print(f"{r['name']:40s} {r['ms']:8.4f} {r['ms'] / base:13.3f} {r.get('rel_l2_vs_fp64', float('nan')):9.2e} "
              f"{r.get('allclose_1e-4', '')}")


if __name__ == "__main__":
    main()
