import torch

from lsemish.grad_check import grads_of as our_grads
from lsemish.inputs import make_x
from lsemish.problem import reference_forward


def make_problem(M, K, N, dist="randn", seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = make_x(dist, (M, K), g, dtype=dtype)
    w = (torch.randn(N, K, generator=g) / K**0.5).to(dtype)
    b = torch.randn(N, generator=g).to(dtype)
    return x, w, b


def gold(x, w, b, scale=2.0, lo=-10.0, hi=10.0):
    return reference_forward(x.double(), w.double(), None if b is None else b.double(), scale, lo, hi)


def tf32(t, op):
    """t on the tf32 grid: "round" to nearest, ties to even (what the TMA copy does), "away" to nearest, ties away
    from zero (what the register-operand kernels do), "trunc" (what the tensor core does to unrounded fp32)."""
    i = t.float().contiguous().view(torch.int32)
    i = {"trunc": i & -8192, "round": (i + 4095 + ((i >> 13) & 1)) & -8192, "away": (i + 4096) & -8192}[op]
    return i.view(torch.float32)


def rel_l2(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def gold_grads(x, w, b, g, scale=2.0, lo=-10.0, hi=10.0):
    """(dx, dw, db) of sum(g * reference(x, w, b)) in float64 (db None without a bias)."""
    return our_grads(lambda xx, ww, bb: reference_forward(xx, ww, bb, scale, lo, hi), x.double(), w.double(),
                     None if b is None else b.double(), g.double())[1:]
