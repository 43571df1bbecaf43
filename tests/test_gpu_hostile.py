"""On a GPU: the hostile classes that only timing shows (a side stream, a shared output buffer, a forged timer) are
rejected by bench with their reasons, and the honest deliverable is timed (run on the GPU machine; skipped here)."""
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
    # no input exists before its call: a candidate that answers inputs found in memory does the honest work
    assert rows["lookahead"]["rejected"] is None and rows["lookahead"]["call_ms"] > 0.8 * rows["honest"]["call_ms"]
    for name in names:
        reason = rows[name]["rejected"]
        assert reason and any(e in reason for e in hostile_set.expected(name) + ["wrong answer"]), (name, reason)


@pytest.mark.xfail(strict=True, reason="a known hole (README, 'Forging the timer after rewriting the worker'): on an "
                   "H200 the protocol's own cost differs between workers by more than a fast call, so a call's time "
                   "slept in the empty requests passes (benchmarks/results/2026-11-30-NVIDIA-H200/untrusted-3/)")
def test_bench_rejects_a_timer_forged_with_its_time_slept_in_empty_requests(tmp_path):
    source = deliverable_source()
    cands = [(n, hostile_set.compose(n, source, tmp_path / f"{n}.py")) for n in ("empty_inflate", "empty_inflate_quiet")]
    result = run_bench(None, cands, None, with_compile=False, calls=8, rounds=1,
                       limits=Limits(request_s=60, triton_cache=str(tmp_path / "cache")), log=lambda m: None)
    rows = {r["name"]: r for r in result["rows"]}
    assert all("work hidden in requests that are not timed" in (rows[n]["rejected"] or "") for n in rows
               if n.startswith("empty_inflate"))
