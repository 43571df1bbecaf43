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
# How far the protocol's own cost in a worker (ms around a timed call's request, a block's commitment, the queued
# calls' request and commitment) may exceed what it should be there (its calibration, before the candidate loaded;
# the reference's commitment): the room in cross_check, commit_check, queued_check and the work floor. On an H200 an
# honest twin's commitment cost 1.41x the reference's and a cheat hid a whole call (0.37 ms) inside 1.25x of a
# request's cost (session 13); honest contenders' queued protocol, the reference's among them, spread 0.74-1.79x its
# calibration, seconds apart in the same worker (sessions 21-22: three of seven honest candidates of a suite rejected
# at 1.25 in both their workers); through the interpreter on a loaded 2-core machine honest twins were rejected at
# 1.25 (session 12). These name the gross cases; what a figure may gain inside the room, at_least_its_work takes
# back (a figure is raised to its work on this side's clock at the centre).
OVERHEAD_RATIO = 2.0
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
    loaded); else one line: their events, and CALL_SHARE of them for a timer's jitter, must reach the work the wall
    clock saw (work_floor over all of them). All the calls' inputs exist before the first call: work done on them
    while they are made (a torch function mode that sees the worker make them, a red team's, session 12) is outside
    the events."""
    if events_ms * (1 + CALL_SHARE) >= work_floor(wall_ms, expected_overhead_ms, 1, ratio):
        return None
    beyond = (wall_ms - events_ms) - expected_overhead_ms
    return f"work outside the timed calls: events {events_ms:.3f} ms for the queued calls, wall clock " \
               f"{wall_ms:.3f} ms, {beyond:.3f} ms more than the protocol's own cost in its worker " \
           f"({expected_overhead_ms:.3f} ms, measured before its code was loaded)"


def work_floor(queued_wall_ms, expected_overhead_ms, calls, ratio=OVERHEAD_RATIO):
    """The least work one call did (ms), on this side's clock alone: the wall clock of the queued calls' request and
    the commitment of their outputs, less the most the protocol's own cost there may be (its calibration in the same
    worker times `ratio`, and a stall), shared by the calls. Their inputs are made inside that span and the digests
    of their outputs come back inside it, so their work lies in it whatever the worker reports or hides; 0 where the
    protocol's cost could be all of it (calls far shorter than a request)."""
    return work_estimate(queued_wall_ms - 2 * STALL_MS, ratio * expected_overhead_ms, calls)


# A per-call figure must reach this share of the work floor: an honest call's figure is the larger (a cold L2, host
# gaps) except where the call is long enough for both to be the same work, and then it jitters by a few percent
# around it (CALL_SHARE on a GPU). Through the interpreter on a loaded 2-core host, an honest CPU hog read 0.945x its
# floor (session 13): there the rule is only for the protocol's logic, whose hostile candidates forge far below.
WORK_SHARE = 1 - CALL_SHARE
CPU_WORK_SHARE = 0.5


def below_its_work(call_ms, floor_ms, share=WORK_SHARE):
    """None when a call's per-call time (events around one call, the L2 flush queued before it) is at least `share`
    of the least work one of its queued calls did on this side's clock (work_floor of the calls queued each behind
    the same flush, less the flush: bench.time_checks); else one line. Whatever a worker forges or hides, its per-call
    figure cannot fall below that: what a cheat can still gain is the gap between an honest per-call figure and
    share x the floor (perf-notes, session 13), and at_least_its_work takes that back. Both figures see a call as
    KernelBench's loop does: a launch longer than the call's GPU work runs while the flush does (a Triton kernel's
    ~20-100 us of Python), and only what is left of it after the flush is the call's (calls queued back to back
    would charge it all: softplus's honest candidate read 0.021 ms per call against their 0.026, session 19)."""
    if floor_ms is None or call_ms >= share * floor_ms:
        return None
    return f"its per-call time ({call_ms:.4f} ms) is below {share:g}x the work one of its calls did on this " \
           f"side's clock ({floor_ms:.4f} ms per call, queued behind the flush)" + \
           ": a call cannot take less than its work"


def work_estimate(queued_wall_ms, expected_overhead_ms, calls):
    """One call's work on this side's clock (ms): the queued calls' request and commitment less their protocol's
    calibrated cost, shared by the calls; the work floor's centre (no room for the protocol's spread or a stall)."""
    return max(0.0, queued_wall_ms - expected_overhead_ms) / max(calls, 1)


def at_least_its_work(call_ms, work_ms):
    """(the per-call figure bench reports, whether it was raised): a worker's figure, or its work on this side's clock
    where that is larger. A timer forged to read low, by less than below_its_work rejects, then gains only the gap
    between an honest per-call figure and its queued work (the host's launch time inside KernelBench's events: 0.33
    against 0.36 ms per call for the deliverable on an H200), not the quarter it shaved (perf-notes, session 14); an
    honest figure is raised only where its queued work reads longer than its calls, by the protocol's jitter."""
    if work_ms is None or call_ms >= work_ms:
        return call_ms, False
    return work_ms, True


def kernelbench_mean(events_ms):
    """KernelBench's per-call figure: the mean of the trials (after its warm-up calls, which are not timed)."""
    return sum(events_ms) / len(events_ms)
