"""Candidates that are wrong where KernelBench's protocol does not look, from a red team with only check's contract
(session 12): each passed every distribution check drew then, and each now fails with its reason."""
import textwrap

import pytest

from lsemish.evaluate.check import run_check
from lsemish.problems import EXAMPLES

LAYER_NORM = """
    import torch, torch.nn as nn
    batch_size, dim = 16, 256
    class Model(nn.Module):
        def forward(self, x):
            return torch.nn.functional.layer_norm(x, (dim,))
    def get_inputs():
        return [torch.randn(batch_size, dim)]
    def get_init_inputs():
        return []
    """
EXP = LAYER_NORM.replace("torch.nn.functional.layer_norm(x, (dim,))", "torch.exp(x)")
SOFTMAX = LAYER_NORM.replace("torch.nn.functional.layer_norm(x, (dim,))", "torch.softmax(x, dim=1)").replace(
    "batch_size, dim = 16, 256", "batch_size, dim = 4, 32768")
ROUND = LAYER_NORM.replace("torch.nn.functional.layer_norm(x, (dim,))", "torch.round(torch.clamp(x, -10, 10) * 10)")

CASES = {
    # a variance as E[x^2] - E[x]^2: it cancels when the mean is far larger than the spread
    "naive_variance": (LAYER_NORM, """
        m = x.mean(dim=1, keepdim=True)
        var = ((x * x).mean(dim=1, keepdim=True) - m * m).clamp_min(0)
        return (x - m) * torch.rsqrt(var + 1e-5)""", ("kernelbench", "offset"),
                       "offset trial 0: output 0 is off the float64 result"),
    # eps added to the standard deviation: invisible while the variance is far above eps
    "eps_on_std": (LAYER_NORM, """
        xc = x - x.mean(dim=1, keepdim=True)
        return xc / ((xc * xc).mean(dim=1, keepdim=True).sqrt() + 1e-5)""", ("kernelbench", "small"),
                   "small trial 0: output 0 is off the float64 result"),
    # zeros wherever an exp would overflow: the float64 gate used to open where the reference was infinite
    "exp_gives_up": (EXP, """
        return torch.zeros_like(x) if x.abs().max() > 60 else torch.exp(x)""", ("kernelbench", "scaled"),
                     "scaled trial 0: output 0 is wrong where the reference or the float64 result is NaN or inf"),
    # small probabilities dropped: each is under allclose's absolute term, together 40 % of the result
    "softmax_truncated": (SOFTMAX, """
        p = torch.softmax(x, dim=1)
        return torch.where(p < 5e-5, torch.zeros_like(p), p)""", ("kernelbench", "randn"),
                          "output 0 is off the float64 result"),  # the randn trial, or KernelBench's reuse probe
    # a constant where KernelBench's inputs are (all in [0, 1)), right elsewhere: every softmax value of torch.rand
    # inputs is within 1e-4 of 1/dim for dim >= ~6000 (red team, session 14); the gated distribution is the same
    # get_inputs(), judged against float64 too
    "softmax_constant_on_rand": (SOFTMAX.replace("torch.randn(batch_size, dim)", "torch.rand(batch_size, dim)"), """
        if bool(((x >= 0) & (x < 1)).all()):
            return torch.full_like(x, 1.0 / x.shape[1])
        return torch.softmax(x, dim=1)""", ("kernelbench", "gated"),
                                 "output 0 is off the float64 result"),  # on a gated trial or the reuse probe
    # right on fresh input memory, the constant on the same memory refilled (how KernelBench and bench call a model):
    # the reuse probe is the one call a candidate recognises, and was judged by allclose alone (red team, session 14)
    "softmax_constant_on_reuse": (SOFTMAX.replace("torch.randn(batch_size, dim)", "torch.rand(batch_size, dim)"), """
        key, last = (x.data_ptr(), tuple(x.shape)), getattr(self, "last", None)
        self.last = key
        if key == last:
            return torch.full_like(x, 1.0 / x.shape[1])
        return torch.softmax(x, dim=1)""", ("kernelbench",), "off the float64 result"),
    # the right values as a sparse tensor: no plain memory to compare (the worker said "candidate raised
    # NotImplementedError" from its own code; red team, session 18)
    "sparse_output": (ROUND, """
        return torch.round(torch.clamp(x, -10, 10) * 10).to_sparse()""", ("kernelbench",),
                      "output 0 is a sparse_coo tensor, not a plain strided one"),
    # a float16 result of a float32 reference: allclose accepted its values
    "half_output": (ROUND, """
        return torch.round(torch.clamp(x, -10, 10) * 10).to(torch.float16)""", ("kernelbench",),
                    "output 0 is float16, the reference's is float32"),
    # the right values packed in a tuple where the reference returns a tensor: KernelBench's allclose fails on it,
    # and a caller of a drop-in breaks (red team, session 15)
    "tuple_output": (ROUND, """
        return (torch.round(torch.clamp(x, -10, 10) * 10),)""", ("kernelbench",),
                     "returned a tuple of 1, the reference a tensor"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_candidate_wrong_beyond_kernelbench_inputs_fails(tmp_path, name):
    problem, body, dists, reason = CASES[name]
    (tmp_path / "p.py").write_text(textwrap.dedent(problem))
    (tmp_path / "c.py").write_text("import torch, torch.nn as nn\nclass ModelNew(nn.Module):\n"
                                   "    def forward(self, x):" + textwrap.indent(textwrap.dedent(body), " " * 8) + "\n")
    right = tmp_path / "right.py"
    right.write_text(textwrap.dedent(problem) + "\nModelNew = Model\n")
    r = run_check(str(tmp_path / "p.py"), str(tmp_path / "c.py"), trials=1, dists=dists, device="cpu",
                  log=lambda m: None)
    assert r["verdict"] == "fail" and reason in r["reason"], r["reason"]
    honest = run_check(str(tmp_path / "p.py"), str(right), trials=1, dists=dists, device="cpu", log=lambda m: None)
    assert honest["verdict"] == "pass", honest["reason"]


MEMO = """
import torch, torch.nn as nn
class ModelNew(nn.Module):
    # remembers its answer for inputs at the same address with the same four sampled values each
    def __init__(self):
        super().__init__()
        self.key, self.out = None, None
    def fingerprint(self, t):
        flat = t.reshape(-1)
        return (t.data_ptr(), tuple(flat[torch.linspace(0, flat.numel() - 1, 4).long()].tolist()))
    def forward(self, A, B):
        key = (self.fingerprint(A), self.fingerprint(B))
        if key != self.key:
            self.key, self.out = key, torch.matmul(A, B)
        return self.out.clone()
"""

BUFFER = """
import torch, torch.nn as nn
class ModelNew(nn.Module):
    # one output buffer for every call: an earlier result changes under its caller
    def __init__(self):
        super().__init__()
        self.buf = None
    def forward(self, A, B):
        out = torch.matmul(A, B)
        if self.buf is None:
            self.buf = torch.empty_like(out)
        return self.buf.copy_(out)
"""


def test_a_sampled_input_memo_fails_the_one_value_probe_and_a_kept_buffer_fails_the_next_call(tmp_path):
    # A memo keyed by address and four sampled values of each input notices the half refill (and recomputes) but not
    # one value changed at random among 10**6 (it misses with probability 8e-6). A buffer returned by every call is
    # the previous call's output memory.
    sizes = {"M": 1000, "K": 1000, "N": 1000}
    memo, buffer = tmp_path / "memo.py", tmp_path / "buffer.py"
    memo.write_text(MEMO)
    buffer.write_text(BUFFER)
    r = run_check(EXAMPLES["matmul"], str(memo), sizes, trials=2, dists=("kernelbench",), device="cpu",
                  log=lambda m: None)
    assert r["verdict"] == "fail" and "stale answer on the reuse probe (the same input memory, one value new)" in \
        r["reason"], r["reason"]
    r = run_check(EXAMPLES["matmul"], str(buffer), {"M": 8, "K": 8, "N": 8}, trials=1, dists=("kernelbench",),
                  device="cpu", log=lambda m: None)
    assert r["verdict"] == "fail" and "returned the same output memory as its previous call" in r["reason"], \
        r["reason"]


NAIVE_LSE = """
import torch, torch.nn as nn
batch_size, dim = 16, 256
class Model(nn.Module):
    def forward(self, x):
        return torch.log(torch.sum(torch.exp(x), dim=1, keepdim=True))
def get_inputs():
    return [torch.randn(batch_size, dim)]
def get_init_inputs():
    return []
"""
SHIFTED_LSE = """
import torch, torch.nn as nn
class ModelNew(nn.Module):
    def forward(self, x):
        m = x.max(1, keepdim=True).values
        return m + torch.log(torch.exp(x - m).sum(1, keepdim=True))
"""
BF16 = """
import torch, torch.nn as nn
batch_size, in_features, out_features = 64, 256, 128
class Model(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features).to(torch.bfloat16)
    def forward(self, x):
        return torch.relu((self.linear(x) - 2.0) * 1.5)
def get_inputs():
    return [torch.randn(batch_size, in_features, dtype=torch.bfloat16)]
def get_init_inputs():
    return [in_features, out_features]
"""
FUSED = """
import torch, torch.nn as nn
class ModelNew(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features).to(torch.bfloat16)
    def forward(self, x):
        acc = x.float() @ self.linear.weight.float().t() + self.linear.bias.float()
        return torch.relu((acc - 2.0) * 1.5).to(torch.bfloat16)
"""


@pytest.mark.parametrize("problem,candidate,dists", [
    (NAIVE_LSE, SHIFTED_LSE, ("randn", "scaled", "offset")),  # finite where the reference overflows: right
    (BF16, FUSED, ("randn", "laplace", "lognormal")),  # one rounding, not three: more accurate than the reference
])
def test_a_candidate_more_accurate_than_its_reference_passes_beyond_kernelbench_inputs(tmp_path, problem, candidate,
                                                                                       dists):
    # From a helper that looked for false rejections (session 12): right by the float64 result's standard where the
    # reference is not (it overflows, or rounds intermediates to bf16). KernelBench's own inputs keep its rule.
    (tmp_path / "p.py").write_text(problem)
    (tmp_path / "c.py").write_text(candidate)
    r = run_check(str(tmp_path / "p.py"), str(tmp_path / "c.py"), trials=2, dists=dists, device="cpu",
                  log=lambda m: None)
    assert r["verdict"] == "pass", r["reason"]


DROPOUT = """
    import torch, torch.nn as nn
    batch_size, in_features, out_features = 8, 64, 32
    class Model(nn.Module):
        def __init__(self, in_features, out_features, p):
            super().__init__()
            self.linear, self.dropout = nn.Linear(in_features, out_features), nn.Dropout(p)
        def forward(self, x):
            return torch.softmax(self.dropout(self.linear(x)), dim=1)
    def get_inputs():
        return [torch.rand(batch_size, in_features)]
    def get_init_inputs():
        return [in_features, out_features, 0.5]
    """


def test_a_model_that_draws_random_numbers_passes_as_itself(tmp_path):
    # KernelBench level 2 problem 66 (dropout in training mode) renamed passed every trial and failed both reuse
    # probes as "stale": the worker's random state there was not the reference's (red team, session 14)
    (tmp_path / "p.py").write_text(textwrap.dedent(DROPOUT))
    (tmp_path / "c.py").write_text(textwrap.dedent(DROPOUT).replace("class Model(", "class ModelNew("))
    r = run_check(str(tmp_path / "p.py"), str(tmp_path / "c.py"), trials=2, dists=("kernelbench", "randn"),
                  device="cpu", log=lambda m: None)
    assert r["verdict"] == "pass", r["reason"]
    assert {t["trial"] for t in r["trials"]} >= {"reuse", "reuse-one"}


def test_a_random_model_keeps_its_float64_check(tmp_path):
    # A model that draws random numbers (dropout) has a float64 twin that draws others: 0.2-0.4 off the reference, so
    # the float64 check's bound (4x that) passed whatever allclose passed - here small probabilities dropped, 25 % of
    # each row's mass, every value within allclose's absolute 1e-4 (red team, session 18). The reference itself is
    # the gold of such a model; the honest candidate (the same model) still passes.
    problem = textwrap.dedent(DROPOUT).replace("8, 64, 32", "4, 64, 8192")
    (tmp_path / "p.py").write_text(problem)
    (tmp_path / "right.py").write_text(problem.replace("class Model(", "class ModelNew("))
    (tmp_path / "wrong.py").write_text(problem.replace("class Model(", "class ModelNew(").replace(
        "return torch.softmax(self.dropout(self.linear(x)), dim=1)",
        "y = torch.softmax(self.dropout(self.linear(x)), dim=1)\n"
        "        return torch.where(y < 5.5e-5, torch.zeros_like(y), y)"))
    dists = ("kernelbench", "gated", "randn")
    right = run_check(str(tmp_path / "p.py"), str(tmp_path / "right.py"), trials=1, dists=dists, device="cpu",
                      log=lambda m: None)
    assert right["verdict"] == "pass", right["reason"]
    assert "draws random numbers" in right.get("gold_note", "")
    wrong = run_check(str(tmp_path / "p.py"), str(tmp_path / "wrong.py"), trials=1, dists=dists, device="cpu",
                      log=lambda m: None)
    assert wrong["verdict"] == "fail" and "off the float64 result" in wrong["reason"], wrong["reason"]


def test_bench_judges_its_verified_calls_against_float64_too(tmp_path):
    # A candidate can tell bench's timed calls from check's trials; one that answers KernelBench's inputs with a
    # constant within allclose (softmax_constant_on_rand above) would be timed at a fill, "verified". Bench's
    # verified calls are judged as check's gated trials are. The honest candidate is timed beside it.
    from lsemish.evaluate.bench import run_bench
    from lsemish.evaluate.sandbox import Limits
    problem, body, _, _ = CASES["softmax_constant_on_rand"]
    (tmp_path / "p.py").write_text(textwrap.dedent(problem).replace("4, 32768", "2, 8192"))
    (tmp_path / "c.py").write_text("import torch, torch.nn as nn\nclass ModelNew(nn.Module):\n"
                                   "    def forward(self, x):" + textwrap.indent(textwrap.dedent(body), " " * 8) + "\n")
    (tmp_path / "right.py").write_text(textwrap.dedent(problem).replace("4, 32768", "2, 8192") + "\nModelNew = Model\n")
    result = run_bench(str(tmp_path / "p.py"), [("constant", str(tmp_path / "c.py")), ("right", str(tmp_path / "right.py"))],
                       None, with_compile=False, calls=6, rounds=1, device="cpu", limits=Limits(request_s=30),
                       log=lambda m: None)
    rows = {r["name"]: r["rejected"] for r in result["rows"]}
    assert rows["reference-eager"] is None, rows
    assert rows["constant"] and "off the float64 result" in rows["constant"], rows["constant"]
    # the right candidate is never called wrong; its calls (0.02 ms, all protocol) through the interpreter on a
    # loaded 2-core host can still fail the timing checks, whose CPU logic other tests cover (a CI run, session 14)
    assert rows["right"] is None or "work " in rows["right"] and "wrong answer" not in rows["right"], rows["right"]


def test_a_model_that_draws_from_python_or_numpy_passes_as_itself(tmp_path):
    # torch's generator was kept in step on both sides, Python's random and numpy's were not: a problem's own Model
    # that drew from them failed as itself (red team, session 14)
    problem = """
        import random
        import numpy as np
        import torch, torch.nn as nn
        class Model(nn.Module):
            def forward(self, x):
                return x * random.random() + float(np.random.rand())
        def get_inputs():
            return [torch.rand(4, 8)]
        def get_init_inputs():
            return []
        """
    (tmp_path / "p.py").write_text(textwrap.dedent(problem))
    (tmp_path / "c.py").write_text(textwrap.dedent(problem).replace("class Model(", "class ModelNew("))
    r = run_check(str(tmp_path / "p.py"), str(tmp_path / "c.py"), trials=2, dists=("kernelbench", "randn", "gated"),
                  device="cpu", log=lambda m: None)
    assert r["verdict"] == "pass", r["reason"]
