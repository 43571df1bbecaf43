"""Trusted side: what a worker's own timings are worth, judged against this process's clock.

A worker reports each timed call's CUDA-event time (KernelBench's per-call figure); this side measures, for the same
call, the round trip of its request (send, inputs made, flush, call, synchronize of the whole device, reply), and for
a block of calls the commitment of all their outputs after them. What a request costs beyond its call's events is the
protocol's own cost. It differs between processes (up to 2x between two workers on an H200), so it is measured in
the candidate's own worker, before any candidate code is loaded there (a stand-in model, the same requests:
bench.calibrate), and scaled as the reference's grew from its own calibration to its timed calls. A candidate's calls
whose requests cost more than that (a side stream the caller never waits for, work deferred past the call, answers
computed ahead, a timer forged inside the worker) show it as wall time beyond the events; events longer than the wall
clock are forged. Nothing the candidate's code measures or reports is the baseline, so slowing requests that are not
timed gains it nothing. Pure functions: tests drive them with made-up clocks.
"""
from __future__ import annotations

import statistics

SLACK_MS = 0.05  # the jitter of a request's round trip (and of a timer against the wall clock), per call
# How far a candidate's own cost of a call's request may exceed the reference's before the difference counts as work
# outside the timed call: the room a forged timer has. Set from twin workers on an H200 (perf-notes, session 11).
OVERHEAD_RATIO = 1.25
# The same through the interpreter on a CPU (tests of the protocol's logic, whose times mean nothing): host work
# there is most of every request and spreads further between processes on a loaded 2-core machine (honest twins
# were rejected at 1.25, session 12); what the CPU's hostile candidates hide is many times the cost.
CPU_OVERHEAD_RATIO = 2.0
STALL_MS = 0.5  # one request's stall on a loaded host (a commitment is one request for a block of calls)
CALL_SHARE = 0.05  # and this share of the call itself: a longer call's request has more host work around it to jitter


def overhead(events_ms, wall_ms):
    """The protocol's own cost of a call's request (ms): the median of wall clock less events, per call."""
    return statistics.median(w - e for w, e in zip(wall_ms, events_ms))


def cross_check(events_ms, wall_ms, expected_overhead_ms, ratio=OVERHEAD_RATIO):
    """None when the events of a candidate's calls agree with this side's wall clock of their requests, less what
    such a request costs in its worker (bench.expected_overhead: measured there before the candidate was loaded);
    else one line naming the disagreement."""
    if not events_ms:
        return "no timed call finished"
    if any(e != e or e < 0 for e in events_ms):
        return "its timer reported a negative or NaN time"
    events, wall = statistics.median(events_ms), statistics.median(wall_ms)
    if events > wall + SLACK_MS:
        return f"its timer reported {events:.3f} ms per call, longer than the wall clock of the same calls " \
               f"({wall:.3f} ms): a replaced timer"
    beyond = overhead(events_ms, wall_ms) - expected_overhead_ms
    if beyond > (ratio - 1) * expected_overhead_ms + SLACK_MS + CALL_SHARE * events:
        return f"work outside the timed call: events {events:.3f} ms, wall clock {wall:.3f} ms per call, " \
               f"{beyond:.3f} ms more than the protocol's own cost in its worker ({expected_overhead_ms:.3f} ms, " \
               "measured before its code was loaded)"
    return None


def commit_check(commit_ms, reference_commit_ms, block, call_ms, ratio=OVERHEAD_RATIO):
    """None when a candidate's commitment of its outputs (per call, `block` calls committed at once) takes about as
    long as the reference's (the same output shapes); else one line: outputs finished, or work done, after the
    calls' events ended. One request per block: the room for a stall of the host is one request's, shared by the
    block's calls."""
    room = (ratio - 1) * reference_commit_ms + STALL_MS / max(block, 1) + CALL_SHARE * call_ms
    if commit_ms - reference_commit_ms > room:
        return f"work after its calls: committing their outputs took {commit_ms:.3f} ms per call, the reference's " \
               f"{reference_commit_ms:.3f} ms"
    return None


def queued_check(events_ms, wall_ms, expected_overhead_ms, ratio=OVERHEAD_RATIO):
    """None when queued calls' events agree with the wall clock of their request and commitment, less what those
    cost in the candidate's worker (bench.expected_overhead of its queued calibration: measured before its code was
    loaded); else one line. All the calls' inputs exist before the first call: work done on them while they are made
    (a torch function mode that sees the worker make them, a red team's, session 12) is outside the events."""
    beyond = (wall_ms - events_ms) - expected_overhead_ms
    if beyond > (ratio - 1) * expected_overhead_ms + 2 * STALL_MS + CALL_SHARE * events_ms:
        return f"work outside the timed calls: events {events_ms:.3f} ms for the queued calls, wall clock " \
               f"{wall_ms:.3f} ms, {beyond:.3f} ms more than the protocol's own cost in its worker " \
               f"({expected_overhead_ms:.3f} ms, measured before its code was loaded)"
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
