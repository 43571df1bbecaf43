import os

import torch

from lsemish.grad_check import grads_of as our_grads
from lsemish.evaluate.inputs import make_x
from lsemish.problems.problem22 import reference_forward


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


CANDIDATES = os.path.join(os.path.dirname(__file__), "fixtures", "candidates")
# A plausible bug in each right candidate: (right file, the line as written, the line with the bug).
BUGS = {
    "matmul": ("        return matmul(A, B)", "        return matmul(A, B, extra=0.01)  # off by a little"),
    "gemm_gelu_bias": ("gemm_gelu_bias(x, self.linear.weight, self.bias)",
                       "gemm_gelu_bias(x, self.linear.weight, self.bias, tanh_approx=True)  # not the erf GELU"),
    "row_softmax_mean": ("        return row_softmax_mean(x)",
                         "        return row_softmax_mean(x, weighted=False)  # the plain mean"),
    "problem22_torch": ("        y = torch.clamp(y + y, self.clamp_min, self.clamp_max)",
                        "        y = torch.clamp(y, self.clamp_min, self.clamp_max)  # forgets the doubling"),
}


def right_candidate(name):
    return os.path.join(CANDIDATES, f"{name}_right.py" if name != "problem22_torch" else "problem22_torch.py")


def write_wrong_candidate(name, path):
    """The right candidate `name` with its bug (BUGS) put in, written to path; returns str(path)."""
    source = open(right_candidate(name)).read()
    line, bug = BUGS[name]
    assert source.count(line) == 1, (name, line)
    with open(path, "w") as fh:
        fh.write(source.replace(line, bug))
    return str(path)


def ended(pid):
    """Whether process `pid` is gone, or a zombie (where nothing reaps orphans)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except FileNotFoundError:
        return True


def ends_within(pid, seconds):
    """Whether process `pid` has ended (ended) within `seconds`."""
    import time
    deadline = time.monotonic() + seconds
    while not ended(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def forward_paths(monkeypatch):
    """A list that receives the forward kernel that runs on each forward from now on ("tma", "fma" or "register":
    model_new's three launchers spied, so a dispatch that picks one and launches another shows)."""
    import lsemish.model_new as mn
    paths = []

    def spy(name, real):
        def run(*args):
            paths.append(name)
            return real(*args)
        return run
    launchers = (("tma", "_tma_forward"), ("fma", "_fma_forward"), ("register", "_register_operand_partials"))
    for name, launcher in launchers:
        monkeypatch.setattr(mn, launcher, spy(name, getattr(mn, launcher)))
    return paths
