"""Trusted side: per-call latency of candidates beside the problem's reference (eager and torch.compile), each in its
own worker, interleaved round by round, every figure checked before it counts.

Each timed call gets values made fresh for it from a new seed, on the device, in the request that times it (never
earlier: inputs made ahead would sit in the worker's memory, where a candidate can find and answer them in advance;
on the device and in the same request: host work or a pause right before a call slows it, see perf-notes), in the
same input tensors as the call before (as KernelBench calls a model); the L2 flush queued, CUDA events around the
call and a synchronize of the whole device after it, as KernelBench times it; this side times the same request on
its own clock, less an empty request that does all of it but the call (timing.cross_check). After a random sample of the calls, and always
the last, the call's outputs come back and are compared with the reference on the same seed: a wrong or stale answer
rejects the contender. Queued GPU time: calls on fresh inputs queued back to back, events around them all, a sample
of their outputs verified (all their inputs exist before the first: a candidate could batch them; the ranked figure
is the per-call one). A contender that cannot finish within its budget is rejected.
"""
from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time

import torch

from ..problems import PROBLEM_22, load_problem
from .check import resolve_candidate, run_trial, start_worker
from .compare import compare, same_values
from .inputs import KERNELBENCH
from .memory import footprint
from .reference import Reference
from .sandbox import Limits, WorkerFailed
from .timing import cross_check, kernelbench_mean

SAMPLE = 0.2  # the share of timed calls whose outputs are verified, chosen after each call (and always the last)


class Rejected(Exception):
    """A contender whose figures cannot count; the message is the reason, in plain words."""


class Contender:
    def __init__(self, label, worker, tolerance):
        self.label, self.worker, self.tolerance = label, worker, tolerance
        self.rounds, self.rejected, self.verified = [], None, 0


def _request(c, header, what):
    try:
        reply, tensors = c.worker.request(header, what=what)
    except WorkerFailed as e:
        raise Rejected(str(e)) from None
    if "rejected" in reply or "error" in reply:
        raise Rejected(reply.get("rejected") or reply["error"])
    return reply, tensors


def _verify(c, ref, seed, got, previous, what):
    expected, _ = ref.run(seed, KERNELBENCH, gold=False, on_device=True)
    verdict = compare(got, expected, None, c.tolerance)
    if not verdict["passed"]:
        stale = previous is not None and same_values(got, previous)
        raise Rejected(f"{what} returned a {'stale answer (the same values as an earlier call)' if stale else 'wrong answer'}: "
                       f"{verdict['reason']}")
    c.verified += 1


def probe(c, ref, rng):
    """Before any timing: one trial on fresh inputs, then the reuse probe (the same input memory, its second half
    refilled), both judged as check judges them; a contender that remembers answers by address or by a sample of its
    input fails."""
    seed, refill = rng.randrange(2**31), rng.randrange(2**31)
    for reuse in (None, refill):
        row = run_trial(c.worker, ref, KERNELBENCH, "before timing", seed, c.tolerance, reuse)
        if not row["passed"]:
            raise Rejected(row["reason"] if reuse or row.get("final") else f"the first verified call: {row['reason']}")
        c.verified += 1


def time_block(c, ref, rng, calls, queued, deadline):
    """One round of one contender: `calls` timed calls (each on fresh inputs), then `queued` calls back to back."""
    events, walls, empties, hosts = [], [], [], []
    previous = None
    seeds = [rng.randrange(2**31) for _ in range(calls + 1)]
    for i in range(calls + 1):  # call 0 warms up (compiles, loads): not timed, but verified
        if time.monotonic() > deadline:
            raise Rejected(f"could not finish its measurement within its budget ({i} of {calls} timed calls done)")
        seed = seeds[i]
        _request(c, {"op": "settle"}, f"the checks before timed call {i}")
        t0 = time.perf_counter()
        reply, _ = _request(c, {"op": "call", "seed": seed}, f"timed call {i}")
        t1 = time.perf_counter()
        _request(c, {"op": "empty", "seed": rng.randrange(2**31)}, "an empty request")
        t2 = time.perf_counter()
        if i:
            events.append(float(reply["events_ms"]))
            hosts.append(float(reply["host_ms"]))
            walls.append((t1 - t0) * 1e3)
            empties.append((t2 - t1) * 1e3)
        if i in (0, calls) or rng.random() < SAMPLE:
            _, got = _request(c, {"op": "fetch"}, f"the outputs of timed call {i}")
            _verify(c, ref, seed, got, previous, f"timed call {i}")
            previous = got
    _request(c, {"op": "settle"}, "the checks after the last timed call")
    problem = cross_check(events, walls, empties)
    if problem:
        raise Rejected(problem)
    row = {"call_ms": kernelbench_mean(events), "call_median_ms": statistics.median(events),
           "wall_ms": statistics.median(w - e for w, e in zip(walls, empties)), "worker_host_ms":
           statistics.median(hosts)}
    if queued:
        seeds = [rng.randrange(2**31) for _ in range(queued)]
        t0 = time.perf_counter()
        reply, _ = _request(c, {"op": "queued", "seeds": seeds}, "queued calls")
        wall = (time.perf_counter() - t0) * 1e3
        gpu = float(reply["events_ms"])
        if gpu != gpu or gpu <= 0 or gpu > wall + 1.0:
            raise Rejected(f"its timer reported {gpu:.3f} ms for {queued} queued calls that took {wall:.3f} ms on "
                           "the wall clock: a replaced timer")
        for index in sorted(rng.sample(range(queued), min(2, queued)) + [queued - 1]):
            _, got = _request(c, {"op": "fetch_queued", "index": index}, f"queued call {index}'s outputs")
            _verify(c, ref, seeds[index], got, None, f"queued call {index}")
        row["gpu_ms"] = gpu / queued
    return row


def queued_count(problem, budget_bytes=2 * 2**30, most=10):
    """How many fresh input sets (with their outputs) fit in `budget_bytes` of device memory, 1 to `most`."""
    try:
        size = footprint(problem)
    except Exception:
        return 1
    each = size["inputs"] + (size["outputs"] or size["inputs"])
    return max(1, min(most, budget_bytes // max(each, 1)))


def run_bench(problem_path=None, candidates=(), sets=None, with_compile=True, calls=30, rounds=3, seed=0,
              budget_s=300.0, model_kwargs=None, tolerance=None, limits=Limits(), log=print, device="cuda"):
    """Rows {name, call_ms, call_median_ms, wall_ms, gpu_ms, x_eager (per call), verified, rejected} for the
    reference (eager, compiled) and each candidate (label, path); medians over `rounds` interleaved rounds.
    device "cpu" runs the same protocol through the interpreter, for tests of its logic (its times mean nothing)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench needs a CUDA GPU (timings through the interpreter would mean nothing)")
    problem_path = PROBLEM_22 if problem_path is None else problem_path
    problem = load_problem(problem_path, sets)
    scratch_root = tempfile.mkdtemp(prefix="lsemish-bench-")
    ref = Reference(problem, seed, device, gold=False)
    specs = [("reference-eager", None, False)] + ([("reference-compile", None, True)] if with_compile else [])
    specs += [(label, resolve_candidate(problem_path, path), False) for label, path in candidates]
    contenders = []
    for label, path, comp in specs:
        log(f"  starting {label} ...")
        worker, why = start_worker(problem_path, path, sets, seed, device, limits, scratch_root,
                                   model_kwargs if path else None, compile_model=comp, name=label.replace(" ", "_"))
        c = Contender(label, worker, tolerance if path else None)
        if worker is None:
            c.rejected = why
        contenders.append(c)
    rng = random.Random(seed + 1)
    queued = queued_count(problem)
    deadlines = {}
    for r in range(rounds):
        for c in contenders:
            if c.rejected:
                continue
            deadlines.setdefault(c.label, time.monotonic() + budget_s)
            try:
                if r == 0:
                    probe(c, ref, rng)
                c.rounds.append(time_block(c, ref, rng, calls, queued, deadlines[c.label]))
            except Rejected as e:
                c.rejected = str(e)
                c.worker.close()
                log(f"  {c.label:18s} REJECTED: {c.rejected}")
                continue
            last = c.rounds[-1]
            log(f"  round {r}: {c.label:18s} per call {last['call_ms']:.4f} ms  wall {last['wall_ms']:.4f} ms  "
                f"GPU {last.get('gpu_ms', float('nan')):.4f} ms")
    rows = []
    for c in contenders:
        row = {"name": c.label, "verified_calls": c.verified, "rejected": c.rejected,
               "log": c.worker.log_path if c.worker else None}
        if c.worker is not None:
            row["landlock"] = c.worker.landlock_note
            c.worker.close()
            if not c.worker.log_bytes:
                row["log"] = None
        if not c.rejected and c.rounds:
            for key in c.rounds[0]:
                row[key] = statistics.median(rr[key] for rr in c.rounds)
        rows.append(row)
    if not any(r["log"] for r in rows):
        shutil.rmtree(scratch_root, ignore_errors=True)
    base = next((r for r in rows if r["name"] == "reference-eager" and "call_ms" in r), None)
    for r in rows:
        if base and "call_ms" in r:
            r["x_eager"] = r["call_ms"] / base["call_ms"]
            r["speedup_vs_eager"] = base["call_ms"] / r["call_ms"]
            if "gpu_ms" in r and "gpu_ms" in base:
                r["gpu_x_eager"] = r["gpu_ms"] / base["gpu_ms"]
    comp = next((r for r in rows if r["name"] == "reference-compile" and "call_ms" in r), None)
    for r in rows:
        if comp and "call_ms" in r:
            r["speedup_vs_compile"] = comp["call_ms"] / r["call_ms"]
    return {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu (interpreter)",
            "torch": torch.__version__,
            "problem": os.path.abspath(problem_path), "sets": sets or {}, "calls": calls, "rounds": rounds,
            "queued": queued, "date": time.strftime("%Y-%m-%d"), "rows": rows}
