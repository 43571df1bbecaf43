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
