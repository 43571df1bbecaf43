"""Trusted side: what a worker's own timings are worth, judged against this process's clock.

A worker reports each timed call's CUDA-event time (KernelBench's per-call figure); this side measures, for the same
call, the round trip of its requests (send, inputs made, flush, call, synchronize of the whole device, reply, and the
commitment of its outputs right after), and then of the same requests without the call (an empty request and a
second commitment): the protocol's own cost in that worker. A call's work that the events missed (a side stream the
caller never waits for, work deferred past the call, a timer forged inside the worker) shows as wall time, less
that cost, beyond the events; events longer than the wall clock are forged. A candidate could slow its own empty
requests to hide work in the difference: their time is bounded by the reference's (a worker that runs no candidate
code). Pure functions: tests drive them with made-up clocks.
"""
from __future__ import annotations

import statistics

SLACK_MS = 0.05      # the jitter between a call's round trip and an empty one's, in one worker
OUTSIDE_RATIO = 1.5  # wall time beyond the events, as a multiple of them, that counts as work outside the timed span
# How much slower a candidate's empty requests may be than the reference's before they count as slowed on purpose:
# the room a cheat has to hide work in. Not yet measured between workers on a GPU (perf-notes, session 9).
BASELINE_RATIO, BASELINE_SLACK_MS = 2.0, 0.25


def cross_check(events_ms, wall_ms, empty_ms):
    """None when the events agree with the wall clock less the empty requests; else one line naming the
    disagreement."""
    if not events_ms:
        return "no timed call finished"
    if any(e != e or e < 0 for e in events_ms):
        return "its timer reported a negative or NaN time"
    events = statistics.median(events_ms)
    wall = statistics.median(w - c for w, c in zip(wall_ms, empty_ms))
    if events > statistics.median(wall_ms) + SLACK_MS:
        return f"its timer reported {events:.3f} ms per call, longer than the wall clock of the same calls " \
               f"({statistics.median(wall_ms):.3f} ms): a replaced timer"
    if wall > OUTSIDE_RATIO * events + SLACK_MS:
        return f"work outside the timed call: events {events:.3f} ms, wall clock {wall:.3f} ms per call"
    return None


def slowed_baseline(empty_ms, reference_empty_ms):
    """None when a candidate's empty requests take about as long as the reference's; else one line. Counted per
    call: a host's sporadic stalls slow a few empty requests, a cheat must slow every one it hides work in, so more
    than a third beyond the bound, and at least two, reject (a cheat hiding work in fewer gains less than a third of
    its calls)."""
    bound = BASELINE_RATIO * reference_empty_ms + BASELINE_SLACK_MS
    slow = sorted(e for e in empty_ms if e > bound)
    if len(slow) >= 2 and len(slow) * 3 > len(empty_ms):  # one stall alone is never a cheat's doing
        return f"its empty requests take {statistics.median(empty_ms):.3f} ms ({len(slow)} of {len(empty_ms)} over " \
               f"{bound:.3f}), the reference's {reference_empty_ms:.3f} ms: work hidden in requests that are not timed"
    return None


def queued_check(events_ms, wall_ms, reference_overhead_ms, calls):
    """None when queued calls' events agree with their wall clock less the reference's overhead (loosely: the
    overhead of another worker, amortized over the calls); else one line."""
    room = max(1.0, 0.5 * reference_overhead_ms) + calls * SLACK_MS
    if wall_ms - reference_overhead_ms > OUTSIDE_RATIO * events_ms + room:
        return f"work outside the timed calls: events {events_ms:.3f} ms for {calls} queued calls, wall clock " \
               f"{wall_ms - reference_overhead_ms:.3f} ms (the reference's overhead taken off)"
    return None


WORK_FLOOR = 0.5  # a call's per-call time below this share of its own queued GPU time per call is not believed


def below_its_work(call_ms, queued_per_call_ms):
    """None when a call's per-call time (events around one call) is not far below the GPU time one call takes when
    calls are queued back to back (a call cannot take less than its work; a cold L2 and host gaps make the
    per-call figure the larger one for honest candidates); else one line. A worker that forges only its per-call
    timer, and hides the time in requests that are not timed, fails here (tests/hostile/empty_inflate_quiet.py)."""
    if queued_per_call_ms is None or call_ms >= WORK_FLOOR * queued_per_call_ms:
        return None
    return f"its per-call time ({call_ms:.4f} ms) is below {WORK_FLOOR:g}x its own GPU time per call when its " \
           f"calls are queued ({queued_per_call_ms:.4f} ms): a call cannot take less than its work"


def kernelbench_mean(events_ms):
    """KernelBench's per-call figure: the mean of the trials (after its warm-up calls, which are not timed)."""
    return sum(events_ms) / len(events_ms)
