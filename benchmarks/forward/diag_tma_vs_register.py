"""The tf32 op through the TMA-rounded kernel against the register-operand kernel (what torch.compile's traced graph
runs) on opcheck's inputs: the largest differences of each output and gradient (GPU).

    PYTHONPATH=src python3 benchmarks/forward/diag_tma_vs_register.py
"""
import torch

import lsemish.model_new as mn
from lsemish.problems.problem22 import CONSTANTS

torch.manual_seed(0)
x = torch.rand(64, 256, device="cuda", requires_grad=True)
w = (torch.randn(384, 256, device="cuda") / 16).requires_grad_()
b = torch.randn(384, device="cuda", requires_grad=True)
def run(tma):
    real = mn._tma_forward_applies
    if not tma:
        mn._tma_forward_applies = lambda *a: False
    outs = torch.ops.lsemish.linear_lse_mish(x, w, b, *CONSTANTS, "tf32", True)
    g = torch.autograd.grad(outs[0].sum(), (x, w, b))
    mn._tma_forward_applies = real
    return [o.detach() for o in outs] + list(g)
a, r = run(True), run(False)
for name, u, v in zip(["out", "lse", "p", "dx", "dw", "db"], a, r):
    d = (u.double() - v.double()).abs()
    print(name, tuple(u.shape), "max abs", float(d.max()), "max rel", float((d / v.double().abs().clamp_min(1e-30)).max()),
          "allclose 1e-4", bool(torch.allclose(u, v, atol=1e-4, rtol=1e-4)))
