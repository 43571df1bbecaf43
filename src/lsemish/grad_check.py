"""Gradients of x, W and b at a given shape: lsemish per precision and eager PyTorch, each against float64.

Each trial draws fresh x (one of the input distributions) and a fresh upstream gradient g ~ N(0, 1), runs
forward + backward of every contender from the same parameters, and compares dx, dW, db with the float64 gold.
Criteria: each mode within 2x the error of its eager peer: fp32 mode vs eager fp32, tf32 mode vs eager with TF32
matmuls (cuBLAS rounds operands), bf16 mode vs eager under torch.autocast(bfloat16) (bf16 products, fp32
logsumexp); every gradient finite. Gradients here are sensitive to the forward's rounding (an element that crosses a
clamp bound gains or loses its gradient), so the peers' errors vary with the input distribution by 100x.
"""
from __future__ import annotations

import random

import torch

from .evaluate.inputs import DISTRIBUTIONS, make_x
from .problems.problem22 import CONSTANTS, HEADLINE, Model, init_inputs, reference_forward

CRITERION = {"fp32": ("eager-fp32", 2.0), "tf32": ("eager-tf32", 2.0), "bf16": ("eager-bf16-autocast", 2.0)}


def _autocast_bf16(fn):
    def run(*args):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return fn(*args)
    return run


def grads_of(fn, x, w, b, g):
    """(out, dx, dw, db) of fn(x, w, b) backpropagated from g, on copies that require grad (db None without b)."""
    xs, ws = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    bs = None if b is None else b.detach().clone().requires_grad_()
    out = fn(xs, ws, bs)
    out.backward(g)
    return out, xs.grad, ws.grad, None if bs is None else bs.grad


def _rel(a, ref):
    return float((a.double() - ref).norm() / ref.norm())


def run_grad_check(shape=HEADLINE, precisions=("tf32", "fp32", "bf16"), trials=2, dists=DISTRIBUTIONS,
                   seed=7, device="cuda", log=print):
    from . import model_new
    M, K, N = shape
    torch.manual_seed(seed)
    ref = Model(*init_inputs(K, N)).to(device)
    w, b = ref.matmul.weight.detach(), ref.matmul.bias.detach()
    consts = CONSTANTS
    rng = random.Random(seed)
    contenders = {"eager-fp32": (lambda xx, ww, bb: reference_forward(xx, ww, bb, *consts), False),
                  "eager-tf32": (lambda xx, ww, bb: reference_forward(xx, ww, bb, *consts), True),
                  "eager-bf16-autocast": (_autocast_bf16(lambda xx, ww, bb: reference_forward(xx, ww, bb, *consts)),
                                          False)}
    for p in precisions:
        contenders[f"lsemish-{p}"] = (lambda xx, ww, bb, p=p: model_new.linear_lse_mish(xx, ww, bb, *consts, p),
                                      False)
    rows = []
    for dist in dists:
        for trial in range(trials):
            gen = torch.Generator().manual_seed(rng.randrange(2**31))
            x = make_x(dist, (M, K), gen, device)
            g = torch.randn(M, 1, generator=gen).to(device)
            gold = grads_of(lambda xx, ww, bb: reference_forward(xx, ww, bb, *consts), x.double(), w.double(),
                            b.double(), g.double())[1:]
            errs = {}
            for name, (fn, tf32) in contenders.items():
                torch.backends.cuda.matmul.allow_tf32 = tf32
                _, *grads = grads_of(fn, x, w, b, g)
                torch.backends.cuda.matmul.allow_tf32 = False
                errs[name] = {k: _rel(a, r) for k, a, r in zip(("dx", "dw", "db"), grads, gold)}
                errs[name]["finite"] = all(bool(torch.isfinite(a).all()) for a in grads)
            for p in precisions:
                base, factor = CRITERION[p]
                mine = errs[f"lsemish-{p}"]
                bound = {k: factor * errs[base][k] for k in ("dx", "dw", "db")}
                passed = mine["finite"] and all(mine[k] <= bound[k] for k in bound)
                row = {"dist": dist, "trial": trial, "precision": p, "passed": passed, "errors": mine,
                       "bound": bound}
                rows.append(row)
                log(f"{dist:10s} trial {trial} {p}: {'PASS' if passed else 'FAIL'}  rel-L2 dx {mine['dx']:.2e} "
                    f"dw {mine['dw']:.2e} db {mine['db']:.2e} (bound dx {bound['dx']:.2e} dw {bound['dw']:.2e} "
                    f"db {bound['db']:.2e})")
            peers = [k for k in errs if k.startswith("eager")]
            rows.append({"dist": dist, "trial": trial, "eager": {k: errs[k] for k in peers}})
            log(f"{dist:10s} trial {trial} eager: " + "; ".join(
                f"{k[6:]} dx {errs[k]['dx']:.2e} dw {errs[k]['dw']:.2e} db {errs[k]['db']:.2e}" for k in peers))
    return rows
