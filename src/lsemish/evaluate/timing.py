"""Trusted side: what a worker's own timings are worth, judged against this process's clock.

A worker reports each timed call's CUDA-event time (KernelBench's per-call figure) and its own wall time; this
side measures, for the same call, the round trip of the request (send, inputs made, flush, call, synchronize of the
whole device, reply) and, after it, the round trip of an empty request that does the same without the call. A call's work that the events
missed (a side stream the caller never waits for, work deferred past the call) shows as wall time the events lack;
events longer than the wall clock of the same call are forged. Pure functions: tests drive them with made-up clocks.
"""
from __future__ import annotations

import statistics

SLACK_MS = 0.05      # the jitter between a call's round trip and an empty one's
OUTSIDE_RATIO = 1.5  # wall time beyond the events, as a multiple of them, that counts as work outside the timed span


def cross_check(events_ms, wall_ms, empty_ms):
    """None when the events agree with the wall clock; else one line naming the disagreement."""
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
        return f"work outside the timed stream: events {events:.3f} ms, wall clock {wall:.3f} ms per call"
    return None


def kernelbench_mean(events_ms):
    """KernelBench's per-call figure: the mean of the trials (after its warm-up calls, which are not timed)."""
    return sum(events_ms) / len(events_ms)
