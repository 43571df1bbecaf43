"""Sweep GEMM variants per precision mode at one shape on a GPU, in one process, next to cuBLAS.

Usage (device machine):
    PYTHONPATH=src python benchmarks/forward/sweep_configs.py --out DIR [--shape M,K,N] [--only tf32,bf16]
A variant is (precision, config, PROMOTE, SYNC_RS) for the register-operand forward (_register_lse_partials_kernel;
tf32 variants run it instead of the default TMA kernel); config = model_new._register_config's arguments. PROMOTE is always on
now (the column stays so that older result files read the same); SYNC_RS 0 turns the kernel's wait off here only.
Each variant is checked (KernelBench allclose vs eager fp32, rel-L2 vs float64) and run RACE_RUNS times on the same
input: every run must be bitwise equal to the first and to the first variant of its precision with the same BLOCK_N
(same arithmetic order), otherwise something races. Rows are written to the JSON as they finish, so a crash keeps
what ran.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time

import torch
import triton

from lsemish import model_new as mn
from lsemish.problems.problem22 import CONSTANTS, reference_forward

T, F = True, False
RACE_RUNS = 20
# (label, precision, (BLOCK_N, BLOCK_M, BLOCK_K, GROUP_M, warps, stages, TMA), PROMOTE, SYNC_RS)
VARIANTS = [
    ("tf32", "tf32", (128, 128, 32, 8, 8, 3, T), 1, 2),
    ("tf32", "tf32", (128, 128, 32, 8, 8, 2, T), 1, 2),
    ("tf32", "tf32", (128, 128, 32, 4, 8, 3, T), 1, 2),
    ("tf32", "tf32", (128, 128, 32, 16, 8, 3, T), 1, 2),
    ("tf32", "tf32", (128, 128, 64, 8, 8, 2, T), 1, 2),
    ("tf32", "tf32", (128, 256, 32, 8, 8, 3, T), 1, 2),
    ("tf32 UNSAFE-pipelined", "tf32", (128, 256, 32, 8, 8, 3, T), 1, 0),
    ("tf32 UNSAFE-pipelined", "tf32", (128, 128, 32, 8, 8, 3, T), 1, 0),
    ("tf32 UNSAFE-pipelined", "tf32", (128, 128, 32, 8, 4, 4, T), 1, 0),
    ("tf32 UNSAFE-pipelined", "tf32", (128, 256, 32, 8, 8, 4, T), 1, 0),
    ("fp32", "fp32", (128, 128, 32, 8, 8, 4, T), 1, 2),
    ("fp32 no-sync", "fp32", (128, 128, 32, 8, 8, 4, T), 1, 0),
    ("bf16", "bf16", (128, 256, 64, 8, 8, 3, T), 1, 2),
    ("bf16", "bf16", (128, 128, 64, 8, 8, 2, T), 1, 2),
    ("bf16", "bf16", (128, 128, 64, 8, 8, 3, T), 1, 2),
    ("bf16", "bf16", (128, 128, 32, 8, 8, 4, T), 1, 2),
    ("bf16 UNSAFE-pipelined", "bf16", (128, 256, 64, 8, 8, 3, T), 1, 0),
    ("bf16 UNSAFE-pipelined", "bf16", (128, 128, 64, 8, 8, 3, T), 1, 0),
    ("native-bf16", "native", (256, 128, 64, 8, 8, 3, T), 1, 0),
]


_REGISTER_META = mn._register_meta
mn._tma_forward_applies = lambda *args: False  # the register-operand kernel in every mode


def _with_sync(sync):
    # The shipped constexprs, with the wait for register-operand wgmmas (SYNC_RS) off where sync is False.
    def meta(*args, **kwargs):
        consts, cfg = _REGISTER_META(*args, **kwargs)
        consts["SYNC_RS"] = consts["SYNC_RS"] and sync
        return consts, cfg
    return meta


def timed(fn):
    ms, p20, p80 = triton.testing.do_bench(fn, warmup=50, rep=300, quantiles=[0.5, 0.2, 0.8])
    return {"ms": ms, "p20": p20, "p80": p80}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", default="1024,8192,8192")
    ap.add_argument("--only", default="", help="comma-separated precisions to keep (default: all)")
    ap.add_argument("--variants", help="a Python list of variant tuples to run instead of VARIANTS")
    args = ap.parse_args()
    M, K, N = (int(v) for v in args.shape.split(","))
    dev = torch.device("cuda")
    torch.manual_seed(1234)
    x = torch.rand(M, K, device=dev)
    lin = torch.nn.Linear(K, N).to(dev)
    w, b = lin.weight.detach(), lin.bias.detach()
    scale, lo, hi = CONSTANTS
    gold = reference_forward(x.double(), w.double(), b.double(), scale, lo, hi)
    eager = reference_forward(x, w, b, scale, lo, hi)
    flops = 2.0 * M * N * K
    meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
            "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv), "M": M, "K": K, "N": N, "rows": []}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"sweep-{M}x{K}x{N}.json")
    rows = meta["rows"]
    firsts = {}

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
        with open(path, "w") as f:
            json.dump(meta, f, indent=1)

    torch.backends.cuda.matmul.allow_tf32 = True
    add("cublas-tf32", lambda: torch.addmm(b, x, w.T))
    torch.backends.cuda.matmul.allow_tf32 = False
    xb, wb, bb = x.bfloat16(), w.bfloat16(), b.bfloat16()
    add("cublas-bf16", lambda: torch.addmm(bb, xb, wb.T))
    add("eager-fp32", lambda: reference_forward(x, w, b, scale, lo, hi), eager)
    xp = torch.empty_like(x)
    add("prepare-x (tf32 rounding pass alone)", lambda: mn._prepare_b_kernel[(triton.cdiv(M, 32), triton.cdiv(K, 128))](
        x, xp, xp, xp, M, K, K, 1, MODE=0, WRITE_HI=True, FLAG_INF=False, BLOCK_M=32, BLOCK_K=128))

    keep = set(filter(None, args.only.split(",")))
    variants = VARIANTS if args.variants is None else ast.literal_eval(args.variants)
    for label, prec, cfg, promote, sync in variants:
        if keep and prec not in keep:
            continue
        native = prec == "native"
        xi, wi, bi = (xb, wb, bb) if native else (x, w, b)
        mn._register_meta = _with_sync(bool(sync))
        mn._CONFIGS["sm90"][3 if native else mn._MODE_OF[prec]] = mn._register_config(*cfg)
        p = "tf32" if native else prec

        def run():
            return mn.linear_lse_mish(xi, wi, bi, scale, lo, hi, p)
        name = f"lsemish-{label} {cfg} promote={promote} sync={sync}"
        try:
            t0 = time.time()
            out = run()
            torch.cuda.synchronize()
            first = time.time() - t0
        except Exception as e:  # a config that does not fit is reported, not fatal
            print(json.dumps({"name": name, "error": repr(e)[:300]}), flush=True)
            rows.append({"name": name, "error": repr(e)[:300]})
            continue
        same = all(torch.equal(out, run()) for _ in range(RACE_RUNS))
        ref = firsts.setdefault((prec, cfg[0]), (name, out))
        add(name, run, out, {"first_call_s": first, f"bitwise_repeatable_{RACE_RUNS}": same,
                             "bitwise_equal_to": ref[0], "bitwise_equal": bool(torch.equal(out, ref[1]))})
    torch.backends.cuda.matmul.allow_tf32 = True
    add("cublas-tf32 (again)", lambda: torch.addmm(b, x, w.T))

    base = next(r["ms"] for r in rows if r["name"] == "cublas-tf32")
    print(f"\n{'name':72s} {'ms':>7s} {'/cublas':>7s} {'relL2':>9s} 1e-4 rep eq")
    for r in rows:
        if "ms" in r:
            print(f"{r['name'][:72]:72s} {r['ms']:7.4f} {r['ms'] / base:7.3f} {r.get('rel_l2_vs_fp64', float('nan')):9.2e} "
                  f"{str(r.get('allclose_1e-4', ''))[:1]:4s} {str(r.get(f'bitwise_repeatable_{RACE_RUNS}', ''))[:1]:3s} "
                  f"{str(r.get('bitwise_equal', ''))[:1]}")


if __name__ == "__main__":
    main()
