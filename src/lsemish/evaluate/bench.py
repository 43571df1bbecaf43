"""Trusted side: per-call latency of candidates beside the problem's reference (eager and torch.compile), each in its
own worker, interleaved round by round, every figure checked before it counts.

Each timed call gets values made fresh for it from a new seed, on the device, in the request that times it (never
earlier: inputs made ahead would sit in the worker's memory, where a candidate can find and answer them in advance;
on the device and in the same request: host work or a pause right before a call slows it, see perf-notes), in the
same input tensors as the call before (as KernelBench calls a model); the L2 flush queued, CUDA events around the
call and a synchronize of the whole device after it, as KernelBench times it. A block's calls follow each other with
nothing between them but their requests (KernelBench's loop, one request per call: a seed is sent only when the call
before has ended, so no call can be answered ahead from later inputs); then the worker commits to all their outputs
(commit.py: digests and shapes under a key it learns only then) and this side checks them against the reference's,
computed ahead (Expected: this process keeps off the GPU while a contender runs). Outputs up to WHOLE_BYTES come back
with that commitment and every call is compared in full; of larger ones, every call's digests are checked and a
random fifth of the calls, and the last, are fetched, compared in full and must still have their digests. This side
times every call's request on its own clock: what a request costs beyond its call's events, and what the
commitment costs, may not exceed what they cost the reference (trusted code, the same requests, the same shapes) by
more than the spread between honest workers (timing.cross_check, timing.commit_check): nothing the candidate measures
in its own worker is the baseline. Those per-request checks leave room for a host's noise (a whole 0.37 ms call fit in
it on an H200, session 13); the precise bound is the work floor: a per-call time below the least work one of the
contender's calls did on this side's clock, queued each behind the L2 flush as a timed call is (timing.work_floor:
their request and commitment, less the most their protocol can cost, less the flush) is not believed
(timing.below_its_work), and one below the likely work is raised to it (timing.at_least_its_work). A round that
fails these checks is timed again in a fresh worker before it rejects (TIME_RETRIES, once a run). Only one
contender's worker is alive at a time. Queued GPU time: calls on
fresh inputs queued back to back, events around them all, every call's outputs committed and checked, a sample
fetched (all their inputs exist before the first: a candidate could batch them; the ranked figure is the per-call
one). A contender that cannot finish within its budget is rejected.
"""
from __future__ import annotations

import contextlib
import gc
import os
import statistics
import time

import torch

from ..problems import PROBLEM_22, load_problem
from . import commit
from .check import resolve_candidate, run_trial, start_worker, unpredictable
from .compare import BOTH, DTYPE_TOLERANCE, compare, same_values
from .cpus import pinned, spare_cpus, unpinned
from .inputs import KERNELBENCH, L2_FLUSH_BYTES
from .memory import footprint_or_none, output_room
from .reference import Reference
from .sandbox import Limits, WorkerFailed, private_root, release_root, timing_cpus
from .timing import (CPU_WORK_SHARE, WORK_SHARE, below_its_work,
                     at_least_its_work, commit_check, cross_check, kernelbench_mean, overhead, queued_check,
                     work_estimate, work_floor)

SAMPLE = 0.2  # the share of timed calls whose outputs are verified, chosen after each call (and always the last)
WHOLE_BYTES = 64 << 20  # outputs up to this size come back with every call's commitment and are compared in full
AHEAD_BYTES = 1 << 30  # host memory for reference outputs computed ahead of the calls they judge
CALIBRATION_CALLS = 20  # timed calls of a worker's stand-in model, before the candidate is loaded
PINGS = 5  # round trips of an empty request before a contender's timed calls
KEEP_BYTES = 2 << 30  # a worker's memory for the outputs of a block of timed calls, kept until their commitment
# A round whose times disagree with this side's clock is timed again in a fresh worker (calibrated afresh) before the
# candidate is rejected: work outside the timed call costs a cheat every time, a stall of a loaded host (CI: two
# cores) only now and then. One retry per contender and run, not per round: a cheat that can tell it is being
# retried (a reviewer's: the earlier worker's log) would otherwise turn every caught round into an honest one.
TIME_RETRIES = 1


class Expected:
    """The reference's outputs for a block's seeds, computed ahead in batches of up to AHEAD_BYTES (at least one
    call's): this process then uses the GPU between a contender's calls only once a batch, not before every call
    (its work on the same GPU right before a call slowed the call's events, perf-notes session 10). The seeds are
    this process's own: nothing ahead exists in the worker."""

    def __init__(self, ref, seeds, out_bytes):
        self.ref, self.seeds, self.cache = ref, seeds, {}
        self.batch = max(1, AHEAD_BYTES // max(out_bytes or AHEAD_BYTES, 1))

    def __getitem__(self, i):
        return self._run(i)[0]

    def gold(self, i):
        """The float64 result for call i (None where the reference has no float64 copy)."""
        return self._run(i)[1]

    def _run(self, i):
        if i not in self.cache:
            self.cache.clear()
            for k in range(i, min(i + self.batch, len(self.seeds))):
                self.cache[k] = self.ref.run(self.seeds[k], KERNELBENCH, on_device=True)
        return self.cache[i]


class Rejected(Exception):
    """A contender whose figures cannot count; the message is the reason, in plain words."""


class Contender:
    def __init__(self, label, worker, tolerance):
        self.label, self.worker, self.tolerance = label, worker, tolerance
        self.rounds, self.rejected, self.verified, self.retried = [], None, 0, []
        self.disagreed = []  # the figures of each round whose times disagreed with this side's clock, for the reader


def _request(c, header, what, spin=0.0):
    try:
        reply, tensors = c.worker.request(header, what=what, spin_s=spin)
    except WorkerFailed as e:
        raise Rejected(str(e)) from None
    if "rejected" in reply or "error" in reply:
        raise Rejected(reply.get("rejected") or reply["error"])
    return reply, tensors


def _number(reply, key, what):
    """reply[key] as a float; a reply without it (a worker rewritten by its candidate) rejects the contender."""
    value = reply.get(key)
    if not commit.finite_number(value):
        raise Rejected(f"{what}: its worker's reply has no {key} as a finite number (a reply the worker does not "
                       "send)")
    return float(value)


def _tolerances(c, expected):
    return [(DTYPE_TOLERANCE.get(e.dtype, 1e-4) if c.tolerance is None else c.tolerance)
            if isinstance(e, torch.Tensor) and e.is_floating_point() else 0.0 for e in expected]


def _committed(c, key, what, outputs=False, spin=0.0):
    """(digests, shapes, outputs or None), per call, of the commitment request right after a block of calls."""
    reply, got = _request(c, {"op": "commit", "key": list(key), "outputs": outputs}, f"{what}'s commitment", spin)
    return _digests_of(reply, got), reply.get("shapes"), (got[1:] if outputs else None)


def _digests_of(reply, got):
    """The digests a commitment's reply holds (commit.digests' form: its first tensor, the sums, cut by its counts),
    or None where they are not there or do not fit."""
    sums = got[0] if got else None
    if not isinstance(sums, torch.Tensor) or sums.dtype != torch.float64 or sums.dim() != 1:
        return None
    return commit.unflatten(sums.tolist(), reply.get("digest_counts"))


def _judge_digests(c, expected, digests, key, what, fetch, previous=None, shapes=None):
    """Checks the committed digests (and shapes) against the reference's outputs; on a mismatch the outputs are
    fetched and compared, for the precise reason (a wrong or stale answer, or outputs that changed)."""
    problem = commit.check(digests, expected, key, _tolerances(c, expected), shapes)
    if problem:
        _, got = _request(c, fetch, f"the outputs of {what}")
        _verify(c, expected, got, previous, digests, key, what)
        if commit.NOT_BY_DIGEST not in problem:
            raise Rejected(f"{what}: {problem}")


def _verify(c, expected, got, previous, digests, key, what, gold=None):
    """A verified call's outputs in full: within allclose of the reference and, with `gold`, of the float64 result as
    check's gated trials are (KernelBench's inputs, judged against float64 too): a candidate can tell a timed call
    from a check's trial, and one that answered KernelBench's inputs within allclose but wrongly (a softmax of
    torch.rand inputs as the constant 1/dim) would otherwise be timed at a fill (red team, session 14)."""
    verdict = compare(got, expected, gold, c.tolerance, rule=BOTH)
    if not verdict["passed"]:
        stale = previous is not None and same_values(got, previous)
        kind = "stale answer (the same values as an earlier call)" if stale else "wrong answer"
        raise Rejected(f"{what} returned a {kind}: {verdict['reason']}")
    if not commit.same(digests, got, key):
        raise Rejected(f"{what}'s outputs changed after its call (they no longer have the digests committed then)")
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


def _spin_s(device):
    """How long this side polls for a timed request's reply before sleeping (on a GPU only: its arrival time is the
    measurement; a sleeping reader wakes tens of microseconds late)."""
    return 0.05 if device == "cuda" else 0.0


def _round_trip(send):
    """(send()'s result, the ms it took on this side's clock)."""
    t0 = time.perf_counter()
    result = send()
    return result, (time.perf_counter() - t0) * 1e3


def calibrate(worker, rng, device, calls=CALIBRATION_CALLS, block=None):
    """The protocol's own cost of a timed call's request in `worker` (ms: its wall clock on this side less its
    events, median), measured with the worker's stand-in model before any candidate code is loaded into it: the same
    requests as the timed calls', in the same process, whose speed at host work differs from another worker's by up
    to 2x on an H200 (perf-notes, session 11). A candidate cannot change this figure: it does not run yet. `block`:
    the calls whose outputs the worker keeps at once (block_size), as in the timed blocks: the stand-in's outputs
    have the reference's shapes, and 40 of a large output would not fit."""
    spin = _spin_s(device)
    events, walls = [], []
    for i in range(2 * calls):  # the first half warms up: a fresh process's first requests cost several times a
        # warm one's (2.7 ms against 0.6 ms on an H200, session 13: kernels loaded lazily, the allocator growing)
        (reply, _), wall = _round_trip(lambda: worker.request({"op": "call", "seed": rng.randrange(2**31)},
                                                              what="a calibration call", spin_s=spin))
        if "events_ms" not in reply:
            raise WorkerFailed(f"the calibration before loading the candidate failed: {reply.get('error') or reply}")
        if i >= calls:
            events.append(float(reply["events_ms"]))
            walls.append(wall)
        if block and (i + 1) % block == 0 or i == 2 * calls - 1:  # the kept outputs dropped, untimed
            reply, _ = worker.request({"op": "settle"}, what="the calibration's kept outputs dropped")
            if "ok" not in reply:
                raise WorkerFailed(f"the calibration before loading the candidate failed: {reply}")
    return overhead(events, walls)


def calibrate_queued(worker, rng, queued, flushed=False):
    """The protocol's own cost of the queued calls' measurement in `worker` (ms: the queued request and the
    commitment of its outputs on this side's clock, less the events around the calls), with its stand-in model
    before any candidate code is loaded: the same requests as time_block's queued calls (`flushed`: those with the
    flush before each call), on the problem's inputs."""
    for _ in range(2):  # the first warms up (the allocator's first 100 input sets: up to 3x the cost, session 13)
        seeds, key = [rng.randrange(2**31) for _ in range(queued)], list(commit.new_key(rng))
        (reply, _), request_ms = _round_trip(lambda: worker.request({"op": "queued", "seeds": seeds,
                                                                     "flushed": flushed},
                                                                    what="the calibration's queued calls"))
        (committed, sums), commit_ms = _round_trip(lambda: worker.request({"op": "commit", "key": key},
                                                                          what="the calibration's commitment"))
        wall = request_ms + commit_ms
        settled, _ = worker.request({"op": "settle"}, what="the calibration's end")
        if "events_ms" not in reply or _digests_of(committed, sums) is None or "ok" not in settled:
            raise WorkerFailed("the calibration before loading the candidate failed: "
                               f"{reply.get('error') or committed.get('error') or settled}")
    return wall - float(reply["events_ms"])


def block_size(out_bytes, calls):
    """How many timed calls share one commitment: as many as keep KEEP_BYTES of outputs alive in the worker (1 when
    the outputs' size is unknown)."""
    if out_bytes is None:
        return 1
    return max(1, min(calls, KEEP_BYTES // max(out_bytes, 1)))


def _queued_calls(c, ref, rng, queued, flushed):
    """`queued` calls on fresh inputs in one request, back to back (flushed: the L2 flush queued before each, as
    before a timed call), their outputs committed and checked (every call's digests, a sample fetched in full):
    (the worker's reply, this side's wall clock of request and commitment, each of the two, the events)."""
    what = "flushed queued calls" if flushed else "queued calls"
    seeds = [rng.randrange(2**31) for _ in range(queued)]
    key = commit.new_key(rng)
    (reply, _), request_ms = _round_trip(lambda: _request(c, {"op": "queued", "seeds": seeds, "flushed": flushed},
                                                          what))
    (digests, shapes, _), commit_ms = _round_trip(lambda: _committed(c, key, f"the {what}"))
    wall = request_ms + commit_ms
    gpu = _number(reply, "events_ms", f"the {what}")
    if gpu != gpu or gpu <= 0 or gpu > wall + 1.0:
        raise Rejected(f"its timer reported {gpu:.3f} ms for {queued} {what} that took {wall:.3f} ms on "
                       "the wall clock: a replaced timer")
    if not isinstance(digests, list) or len(digests) != queued:
        raise Rejected(f"committed {len(digests) if isinstance(digests, list) else 'no'} digest list(s) for "
                       f"{queued} {what}")
    shapes = shapes if isinstance(shapes, list) and len(shapes) == queued else [None] * queued
    with unpinned():
        expected = [ref.run(s_, KERNELBENCH, gold=False, on_device=True)[0] for s_ in seeds]
        for k, (e, d, sh) in enumerate(zip(expected, digests, shapes)):
            _judge_digests(c, e, d, key, f"{what[:-1]} {k}", {"op": "fetch", "index": k}, shapes=sh)
        for index in sorted(set(rng.sample(range(queued), min(2, queued)) + [queued - 1])):
            _, got = _request(c, {"op": "fetch", "index": index}, f"{what[:-1]} {index}'s outputs")
            _verify(c, expected[index], got, None, digests[index], key, f"{what[:-1]} {index}",
                    ref.run(seeds[index], KERNELBENCH, on_device=True)[1])
    return reply, wall, request_ms, commit_ms, gpu


ROUND_KEYS = ("call_ms", "events_call_ms", "calibration_ms", "queued_calibration_ms", "queued_events_ms",
              "queued_wall_ms", "queued_request_ms", "queued_commit_ms", "queued_setup_ms", "floor_ms", "work_ms",
              "overhead_ms", "commit_ms", "worker_launch_ms", "flushed_calibration_ms", "flushed_events_ms",
              "flushed_wall_ms")


def time_block(c, ref, rng, calls, queued, deadline, out_bytes, device="cuda"):
    """One round of one contender: `calls` timed calls (after one that warms up), each on fresh inputs in a request of
    its own, the calls of a block back to back; then the commitment of all the block's outputs and their check
    against the reference; then `queued` calls back to back. `out_bytes`: one call's outputs (None: unknown). On a
    GPU this side waits for a timed request's reply busily (its arrival time is the measurement). Keeps
    the raw per-call figures ("events", "walls") for the cross-check with the reference's (timing.cross_check)."""
    whole = out_bytes is not None and out_bytes <= WHOLE_BYTES
    events, hosts, walls, commits, launches = [], [], [], [], []
    spin = _spin_s(device)
    previous = None
    seeds = [rng.randrange(2**31) for _ in range(calls + 1)]
    references = Expected(ref, seeds, out_bytes)
    size = block_size(out_bytes, calls + 1)
    # the channel's own round trip, for the reader (perf-notes)
    pings = [_round_trip(lambda: _request(c, {"op": "ping"}, "a ping", spin))[1] for _ in range(PINGS)]
    _request(c, {"op": "settle"}, "the checks before the timed calls")
    # call 0 warms up (compiles, loads), alone in its block, whose commitment also warms the worker's digests (the
    # first use of their kernels cost ~0.2 s on an H200): not timed, but verified
    blocks = [range(0, 1)] + [range(first, min(first + size, calls + 1)) for first in range(1, calls + 1, size)]
    steps = []
    for block in blocks:
        first = block[0]
        if time.monotonic() > deadline:
            raise Rejected(f"could not finish its measurement within its budget ({first} of {calls} timed calls done)")
        for i in block:
            (reply, _), wall = _round_trip(lambda: _request(c, {"op": "call", "seed": seeds[i], "index": i},
                                                            f"timed call {i}", spin))
            if i:
                events.append(_number(reply, "events_ms", f"timed call {i}"))
                hosts.append(_number(reply, "host_ms", f"timed call {i}"))
                walls.append(wall)
                steps.append(reply.get("steps_ms"))
                launches.append(reply.get("launch_ms"))
        key = commit.new_key(rng)
        (digests, shapes, got), ms = _round_trip(lambda: _committed(c, key, f"timed calls {first}-{block[-1]}",
                                                                    outputs=whole, spin=spin))
        if first:
            commits.append(ms / len(block))
        if not isinstance(digests, list) or len(digests) != len(block):
            raise Rejected(f"committed {len(digests) if isinstance(digests, list) else 'no'} digest list(s) for "
                           f"{len(block)} timed calls")
        shapes = shapes if isinstance(shapes, list) and len(shapes) == len(block) else [None] * len(block)
        with unpinned():  # the block's outputs checked while its worker waits: on the CPUs the worker is not on
            for k, i in enumerate(block):
                expected = references[i]
                if whole:  # every call's outputs, as they were when committed, compared in full
                    n = len(expected)
                    mine = got[k * n:(k + 1) * n] if len(got) == n * len(block) else got
                    _verify(c, expected, mine, previous, digests[k], key, f"timed call {i}", references.gold(i))
                    previous = mine
                else:
                    _judge_digests(c, expected, digests[k], key, f"timed call {i}", {"op": "fetch", "index": k},
                                   previous, shapes[k])
                    if i in (0, calls) or rng.random() < SAMPLE:
                        _, mine = _request(c, {"op": "fetch", "index": k}, f"the outputs of timed call {i}")
                        _verify(c, expected, mine, previous, digests[k], key, f"timed call {i}", references.gold(i))
                        previous = mine
        # the block's checks in the worker (inputs unchanged, nothing replaced); its kept outputs are dropped only
        # now, after every fetch of them
        _request(c, {"op": "settle"}, f"the checks of timed calls {first}-{block[-1]}")
    if not events or any(e != e or e < 0 for e in events):
        raise Rejected("its timer reported a negative or NaN time" if events else "no timed call finished")
    row = {"call_ms": kernelbench_mean(events), "call_median_ms": statistics.median(events),
           "wall_ms": statistics.median(walls), "worker_host_ms": statistics.median(hosts),
           "overhead_ms": overhead(events, walls), "commit_ms": statistics.median(commits),
           "block": min(size, calls), "ping_ms": statistics.median(pings), "events": events, "walls": walls}
    names = ("inputs", "copies", "flush", "timed", "checks")
    if all(isinstance(st, list) and len(st) == len(names) and all(commit.finite_number(v) for v in st)
           for st in steps):  # the worker's account, for the reader (untrusted: only finite numbers are read)
        row["worker_steps_ms"] = dict(zip(names, (statistics.median(st[k] for st in steps) for k in range(5))))
    if launches and all(commit.finite_number(v) for v in launches):  # the same: its host launch inside the events
        row["worker_launch_ms"] = statistics.median(launches)
    if queued:
        reply, wall, request_ms, commit_ms, gpu = _queued_calls(c, ref, rng, queued, flushed=False)
        row.update(gpu_ms=gpu / queued, queued_events_ms=gpu, queued_wall_ms=wall, queued=queued,
                   queued_request_ms=request_ms, queued_commit_ms=commit_ms)
        if isinstance(reply.get("setup_ms"), (int, float)):  # the worker's own account: for the reader only
            row["queued_setup_ms"] = float(reply["setup_ms"])
        _request(c, {"op": "settle"}, "the checks of the queued calls")
        _, wall, _, _, gpu = _queued_calls(c, ref, rng, queued, flushed=True)
        row.update(flushed_events_ms=gpu, flushed_wall_ms=wall)
    return row


@contextlib.contextmanager
def _collector_paused():
    """This process's garbage collector off during a block: its wall clock, which checks a worker's times, then
    measures the requests and not a collection of this process's own objects."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _figures(row, r, reason, baseline):
    """A round's figures whose times disagreed with this side's clock (the reason, the worker's calibrations, its
    account of its steps, the reference's costs they were judged against): in the results, so that a rejection can
    be read, and a wrong one found (an honest candidate's, suite-2)."""
    figures = {"round": r, "reason": reason, "reference": baseline}
    figures.update({k: row[k] for k in ROUND_KEYS + ("worker_steps_ms", "ping_ms", "wall_ms") if k in row})
    return figures


def overhead_of(row):
    """The reference's own cost of the protocol (ms): a call's request beyond its events (and the same before its
    model was loaded, its calibration), and a block's commitment, per timed call; and around the queued calls
    together."""
    return {"call": row["overhead_ms"], "calibration": row["calibration_ms"], "commit": row["commit_ms"],
            "queued": row["queued_wall_ms"] - row["queued_events_ms"] if "queued_wall_ms" in row else None,
            "queued_calibration": row.get("queued_calibration_ms"),
            "flushed": row["flushed_wall_ms"] - row["flushed_events_ms"] if "flushed_wall_ms" in row else None,
            "flushed_calibration": row.get("flushed_calibration_ms")}


def expected_overhead(calibration, baseline):
    """What a candidate's call request should cost beyond its events (ms): its own worker's calibration, scaled as
    the reference's cost grew from its calibration to its timed calls (a model loaded, a larger heap)."""
    if not calibration or not baseline["calibration"]:
        return baseline["call"]
    return calibration * baseline["call"] / baseline["calibration"]


def time_checks(row, baseline, device="cuda", flush_ms=0.0):
    """None when a candidate's round (its figures and its worker's calibrations) agrees with this side's clock and
    the reference's cost of the same protocol (timing.py), else the first disagreement in one line. Sets
    row["floor_ms"] and row["work_ms"], the least and the likely work of one call on this side's clock
    (timing.work_floor, timing.work_estimate), from its flushed queued calls, less `flush_ms` (flush_gpu_ms): the
    work each call did behind a flush, as a timed call does it (a call whose launch is longer than its GPU work
    launches while the flush runs, in both)."""
    reason = cross_check(row["events"], row["walls"], expected_overhead(row["calibration_ms"], baseline)) or \
        commit_check(row["commit_ms"], baseline["commit"], row["block"], row["call_median_ms"])
    for kind in ("queued", "flushed"):
        if baseline[kind] is None or f"{kind}_wall_ms" not in row:
            continue
        wall = row[f"{kind}_wall_ms"]
        expected = expected_overhead(row.get(f"{kind}_calibration_ms"),
                                     {"call": baseline[kind], "calibration": baseline[f"{kind}_calibration"]})
        reason = reason or queued_check(row[f"{kind}_events_ms"], wall, expected)
        if kind == "flushed":
            row["floor_ms"] = max(0.0, work_floor(wall, expected, row["queued"]) - flush_ms)
            row["work_ms"] = max(0.0, work_estimate(wall, expected, row["queued"]) - flush_ms)
            reason = reason or below_its_work(row["call_median_ms"], row["floor_ms"],
                                              WORK_SHARE if device == "cuda" else CPU_WORK_SHARE)
    return reason


def flush_gpu_ms(device):
    """The GPU time of the L2 flush that a timed call's request queues before its start event (0 without a GPU): what
    the flushed queued calls' work includes besides the calls' (time_checks). Measured on this side before any worker
    starts: the median of ten fills, each timed with the GPU still busy with a fill before it, so that the events see
    the fill and not its launch (the most of five from an idle GPU read 0.096-0.142 ms where the fill takes 0.06: the
    host's delays, session 22)."""
    if device != "cuda":
        return 0.0
    flush, times = torch.empty(L2_FLUSH_BYTES // 4, device="cuda"), []
    for _ in range(11):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        flush.fill_(1.0)
        start.record()
        flush.fill_(1.0)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    del flush
    torch.cuda.empty_cache()
    return statistics.median(times[1:])


QUEUED_MOST = {"cuda": 100, "cpu": 10}  # queued calls: many on a GPU, so that the work floor's room (a stall and
# the protocol's cost, timing.work_floor) is small against their work; few through the interpreter, whose calls are slow


def queued_count(size, budget_bytes=4 * 2**30, most=QUEUED_MOST["cuda"]):
    """How many fresh input sets (with their outputs) fit in `budget_bytes` of device memory, 1 to `most` (1 when
    the sizes are unknown)."""
    if size is None:
        return 1
    each = size["inputs"] + (size["outputs"] or size["inputs"])
    return max(1, min(most, budget_bytes // max(each, 1)))


@contextlib.contextmanager
def _left_clean(contenders, scratch_root):
    """A bench that stops on an error (this side's shortage receiving a reply: ProblemError; an interrupt) leaves no
    worker and no scratch folder behind."""
    try:
        yield
    except BaseException:
        for c in contenders:
            if c.worker is not None:
                c.worker.close()
        release_root(scratch_root, keep=False)
        raise


def run_bench(problem_path=None, candidates=(), sets=None, with_compile=True, calls=30, rounds=3, seed=0,
              budget_s=300.0, model_kwargs=None, tolerance=None, limits=Limits(), log=print, device="cuda"):
    """Rows {name, call_ms, call_median_ms, wall_ms, gpu_ms, x_eager (per call), verified, rejected} for the
    reference (eager, compiled) and each candidate (label, path); medians over `rounds` interleaved rounds.
    device "cpu" runs the same protocol through the interpreter, for tests of its logic (its times mean nothing).
    `seed` makes the models' weights; every input and commitment key is drawn afresh for each run (unpredictable)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench needs a CUDA GPU (timings through the interpreter would mean nothing)")
    problem_path = PROBLEM_22 if problem_path is None else problem_path
    problem = load_problem(problem_path, sets)
    ref = Reference(problem, seed, device)  # with its float64 copy: verified calls are judged against it too
    scratch_root = private_root("lsemish-bench-")
    specs = [("reference-eager", None, False)] + ([("reference-compile", None, True)] if with_compile else [])
    specs += [(label, resolve_candidate(problem_path, path), False) for label, path in candidates]
    contenders = []
    for label, path, comp in specs:
        c = Contender(label, None, tolerance if path else None)
        c.spec = (path, comp)
        contenders.append(c)

    def open_worker(c):
        """A fresh worker for this contender's round: only one contender's code is alive at a time, so that none
        can slow another's timing (a candidate's processes that burn the CPU while others are timed)."""
        path, comp = c.spec
        log(f"  starting {c.label} ...")
        c.calibration = c.queued_calibration = c.flushed_calibration = None

        def calibration(w):
            c.calibration = calibrate(w, rng, device, block=block_size(out_bytes, CALIBRATION_CALLS))
            c.queued_calibration = calibrate_queued(w, rng, queued) if queued else None
            c.flushed_calibration = calibrate_queued(w, rng, queued, flushed=True) if queued else None
        worker, why = start_worker(problem_path, path, sets, seed, device, limits, scratch_root,
                                   model_kwargs if path else None, compile_model=comp, name=c.label.replace(" ", "_"),
                                   before_load=calibration, stand_in=size and size.get("output_shapes"),
                                   output_bytes=output_room(size))
        c.worker = worker or c.worker
        if worker is None:
            c.rejected = why
        else:  # where an evaluation's time goes (a suite's small problems: starts, not calls; session 17)
            log(f"  {c.label} ready: " + ", ".join(f"{k} {v:.1f} s" for k, v in worker.phases.items()))
        return worker is not None

    rng = unpredictable()  # inputs and keys: a candidate that knew them could carry their answers (red team, 11)
    size = footprint_or_none(problem)  # one footprint, for both: unknown outputs count as large
    queued = queued_count(size, most=QUEUED_MOST[device])
    out_bytes = size["outputs"] if size is not None else None
    flush_ms = flush_gpu_ms(device)
    if device == "cuda":
        limits, trusted_cpu = timing_cpus(limits)
    else:
        trusted_cpu = None
    # the checks between timed requests run off the worker's CPU and this side's own (and their siblings): threads
    # of torch's pool spin for a while after each check, and on this side's CPU they delayed its clock's reading of
    # the next replies (honest row sums rejected for work outside their timed calls, suite-2, session 19)
    spare = spare_cpus(set(limits.cpus or ()) | {trusted_cpu}) if trusted_cpu is not None else ()
    with pinned(trusted_cpu, spare), _left_clean(contenders, scratch_root):
        spent = {}  # seconds of each contender's own rounds, against budget_s
        for r in range(rounds):
            baseline = None  # the reference's overhead this round: the trusted measure of what is not the call
            for c in contenders:
                for attempt in range(1, TIME_RETRIES + 2):
                    if c.rejected or not open_worker(c):
                        break
                    deadline = time.monotonic() + budget_s - spent.get(c.label, 0.0)  # its own rounds' time counts
                    started = time.monotonic()
                    try:
                        if r == 0 and attempt == 1:
                            probe(c, ref, rng)
                        with _collector_paused():
                            row = time_block(c, ref, rng, calls, queued, deadline, out_bytes, device)
                        row["calibration_ms"] = c.calibration
                        if c.queued_calibration is not None:
                            row["queued_calibration_ms"] = c.queued_calibration
                            row["flushed_calibration_ms"] = c.flushed_calibration
                        if c is contenders[0]:  # the reference: trusted code, whose overhead bounds the others'
                            baseline, reason = overhead_of(row), None
                        elif baseline is None:
                            raise Rejected("no trusted baseline to check its times against (the reference was not "
                                           f"timed: {contenders[0].rejected or 'it failed'})")
                        else:
                            reason = time_checks(row, baseline, device, flush_ms)
                        if reason:
                            c.disagreed.append(_figures(row, r, reason, baseline))
                        if reason and len(c.retried) < TIME_RETRIES:
                            c.retried.append(f"round {r}: {reason}")
                            log(f"  {c.label:18s} timed again in a fresh worker: {reason}")
                            continue
                        if reason:
                            raise Rejected(f"{reason} (so in each of {attempt} fresh workers)" if attempt > 1 else
                                           f"{reason} (its one timing retry of the run was spent: {c.retried[0]})")
                        for k in ("events", "walls"):
                            row.pop(k, None)
                        if c is not contenders[0]:  # a worker's figure never below its work on this side's clock
                            row["events_call_ms"] = row["call_ms"]
                            row["call_ms"], row["raised_to_work"] = at_least_its_work(row["call_ms"],
                                                                                      row.get("work_ms"))
                        c.rounds.append(row)
                    except Rejected as e:
                        c.rejected = str(e)
                        log(f"  {c.label:18s} REJECTED: {c.rejected}")
                        break
                    finally:
                        c.worker.close()
                        spent[c.label] = spent.get(c.label, 0.0) + time.monotonic() - started
                    last = c.rounds[-1]
                    log(f"  round {r}: {c.label:18s} per call {last['call_ms']:.4f} ms  wall {last['wall_ms']:.4f} "
                        f"ms  GPU {last.get('gpu_ms', float('nan')):.4f} ms  ({time.monotonic() - started:.1f} s)")
                    break
    rows = []
    for c in contenders:
        row = {"name": c.label, "verified_calls": c.verified, "rejected": c.rejected,
               "log": c.worker.log_path if c.worker else None, "retried": c.retried}
        if c.worker is not None:
            row["landlock"] = c.worker.landlock_note
            c.worker.close()
            if not c.worker.log_bytes:
                row["log"] = None
        if c.disagreed:
            row["disagreed"] = c.disagreed
        if not c.rejected and c.rounds:
            for key, first in c.rounds[0].items():
                if not all(isinstance(rr.get(key), type(first)) for rr in c.rounds):
                    continue  # a figure for the reader that some round lacks (its worker did not report it)
                if isinstance(first, dict):
                    common = [k for k in first if all(k in rr[key] for rr in c.rounds)]
                    row[key] = {k: statistics.median(rr[key][k] for rr in c.rounds) for k in common}
                else:
                    row[key] = statistics.median(rr[key] for rr in c.rounds)
            # every round's figures behind the medians, for the reader (why a figure moved, where the protocol's
            # time goes: perf-notes)
            row["per_round"] = [{k: rr[k] for k in ROUND_KEYS if k in rr} for rr in c.rounds]
            if "raised_to_work" in row:  # in some round: its figure is its work on this side's clock there
                row["raised_to_work"] = any(rr.get("raised_to_work") for rr in c.rounds)
        rows.append(row)
    release_root(scratch_root, keep=any(r["log"] for r in rows))
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
            "queued": queued, "flush_ms": flush_ms, "date": time.strftime("%Y-%m-%d"), "rows": rows}
