"""On a GPU: the hostile classes that only timing shows (a side stream, a shared output buffer, a forged timer) are
rejected by bench with their reasons, the honest deliverable is timed, and honest candidates that compile for the GPU
(a CUDA extension, torch.compile) pass check (run on the GPU machine; skipped here)."""
import pytest
import torch

import hostile_set
from lsemish import deliverable_source
from lsemish.evaluate.bench import run_bench
from lsemish.evaluate.sandbox import Limits

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_bench_rejects_what_only_timing_shows(tmp_path):
    source = deliverable_source()
    names = ["side_stream", "output_reuse", "timer_patch", "stale_answers", "input_memo", "lazy_fetch", "worker_timer"]
    cands = [("honest", None), ("lookahead", hostile_set.compose("lookahead", source, tmp_path / "lookahead.py"))]
    cands += [(n, hostile_set.compose(n, source, tmp_path / f"{n}.py")) for n in names]
    result = run_bench(None, cands, None, with_compile=False, calls=8, rounds=1,
                       limits=Limits(request_s=60, triton_cache=str(tmp_path / "cache")), log=lambda m: None)
    rows = {r["name"]: r for r in result["rows"]}
    assert rows["honest"]["rejected"] is None and rows["honest"]["call_ms"] > 0
    # no timed call's input exists before its call: a candidate that answers inputs found in memory does the honest
    # work there; the queued calls' inputs all exist before the first, and answers it computed ahead for them are
    # checked like any (on an H200 its table answered wrongly, session 13)
    look = rows["lookahead"]
    assert (look["rejected"] is None and look["call_ms"] > 0.8 * rows["honest"]["call_ms"]) or \
        "wrong answer" in look["rejected"], look["rejected"]
    for name in names:
        reason = rows[name]["rejected"]
        assert reason and any(e in reason for e in hostile_set.expected(name) + ["wrong answer"]), (name, reason)


def test_bench_rejects_a_forged_timer_whatever_it_does_with_the_hidden_time(tmp_path):
    # Since session 11 no baseline is measured in the candidate's worker: the time slept in untimed requests
    # (empty_inflate*) or not hidden at all (a quarter of each call shaved off, timer_shave) shows on this side's
    # clock against the reference's cost of the same requests.
    source = deliverable_source()
    # A quarter shaved off (timer_shave, timer_shave_single: the per-call figure only) lies near the work floor's
    # room: rejected, or timed at its work on this side's clock, which the shaved quarter does not lower (0.333
    # against an honest 0.36-0.40 ms, session 14).
    names = ("empty_inflate", "empty_inflate_quiet", "timer_shave", "timer_shave_single")
    cands = [("honest", None)] + [(n, hostile_set.compose(n, source, tmp_path / f"{n}.py")) for n in names]
    result = run_bench(None, cands, None, with_compile=False, calls=8, rounds=1,
                       limits=Limits(request_s=60, triton_cache=str(tmp_path / "cache")), log=lambda m: None)
    rows = {r["name"]: r for r in result["rows"]}
    assert rows["honest"]["rejected"] is None
    for name in names:
        reason = rows[name]["rejected"]
        if reason is None and name.startswith("timer_shave"):
            assert rows[name]["raised_to_work"] and rows[name]["call_ms"] > 0.8 * rows["honest"]["call_ms"], name
            continue
        assert reason and any(e in reason for e in hostile_set.expected(name)), (name, reason)


CUDA_INLINE = """
import torch
from torch.utils.cpp_extension import load_inline

ext = load_inline(name="lsemish_gpu_test_mm", cpp_sources="torch::Tensor mm(torch::Tensor a, torch::Tensor b);",
                  cuda_sources=\"\"\"
#include <torch/extension.h>
__global__ void mm_kernel(const float* a, const float* b, float* c, int n, int k, int m) {
    int i = blockIdx.y * blockDim.y + threadIdx.y, j = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n && j < m) {
        float s = 0.f;
        for (int t = 0; t < k; ++t) s += a[i * k + t] * b[t * m + j];
        c[i * m + j] = s;
    }
}
torch::Tensor mm(torch::Tensor a, torch::Tensor b) {
    a = a.contiguous(); b = b.contiguous();
    auto c = torch::empty({a.size(0), b.size(1)}, a.options());
    dim3 block(16, 16), grid((b.size(1) + 15) / 16, (a.size(0) + 15) / 16);
    mm_kernel<<<grid, block>>>(a.data_ptr<float>(), b.data_ptr<float>(), c.data_ptr<float>(),
                               a.size(0), a.size(1), b.size(1));
    return c;
}
\"\"\", functions=["mm"])


class ModelNew(torch.nn.Module):
    def forward(self, A, B):
        return ext.mm(A, B)
"""

INDUCTOR = """
import torch


class ModelNew(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.f = torch.compile(lambda a, b: torch.matmul(a, b))

    def forward(self, A, B):
        return self.f(A, B)
"""


@pytest.mark.parametrize("name", ["cuda_inline", "inductor"])
def test_honest_candidates_that_compile_for_the_gpu_pass(tmp_path, name):
    # KernelBench's usual formats: a CUDA extension built at import (nvcc through ninja, whose jobs ask for process
    # groups of their own: refused in session 15) and torch.compile (Triton kernels from inductor; torch's own
    # wrappers for dynamo read as replaced functions before session 16)
    from lsemish.evaluate.check import run_check
    from lsemish.problems import EXAMPLES
    path = tmp_path / f"{name}.py"
    path.write_text({"cuda_inline": CUDA_INLINE, "inductor": INDUCTOR}[name])
    r = run_check(EXAMPLES["matmul"], str(path), trials=1, limits=Limits(setup_s=600, request_s=120),
                  log=lambda m: None)
    assert r["verdict"] == "pass", r["reason"]
