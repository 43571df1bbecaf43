"""Trusted side: what a worker's own timings are worth, judged against this process's clock.

A worker reports each timed call's CUDA-event time (KernelBench's per-call figure); this side measures, for the same
call, the round trip of its requests (send, inputs made, flush, call, synchronize of the whole device, reply, and the
commitment of its outputs right after). What a timed request costs besides the call is measured on the reference's
worker, which runs no candidate code (a candidate could slow requests of its own to hide work in them). A call's work
that the events missed (a side stream the caller never waits for, work deferred past the call, a timer that reports
less than it saw) shows as wall time, less that overhead, beyond the events; events longer than the wall clock of the
same call are forged. Pure functions: tests drive them with made-up clocks.
"""
from __future__ import annotations

import statistics

SLACK_MS = 0.1       # the jitter between one worker's overhead and another's (session 9: 0.05 for one worker)
OUTSIDE_RATIO = 1.5  # wall time beyond the events, as a multiple of them, that counts as work outside the timed span


def cross_check(events_ms, wall_ms, overhead_ms, what="call"):
    """None when the events agree with the wall clock less the reference's overhead; else one line naming the
    disagreement."""
    if not events_ms:
        return "no timed call finished"
    if any(e != e or e < 0 for e in events_ms):
        return "its timer reported a negative or NaN time"
    events, wall = statistics.median(events_ms), statistics.median(wall_ms)
    if events > wall + SLACK_MS:
        return f"its timer reported {events:.3f} ms per {what}, longer than the wall clock of the same {what}s " \
               f"({wall:.3f} ms): a replaced timer"
    if wall - overhead_ms > OUTSIDE_RATIO * events + SLACK_MS:
        return f"work outside the timed call: events {events:.3f} ms, wall clock {wall - overhead_ms:.3f} ms per " \
               f"{what} (the protocol's own {overhead_ms:.3f} ms, measured on the reference, taken off)"
    return None


def kernelbench_mean(events_ms):
    """KernelBench's per-call figure: the mean of the trials (after its warm-up calls, which are not timed)."""
    return sum(events_ms) / len(events_ms)
