"""Trusted side: this process on a set of CPUs, with torch's intra-op threads no more than the set holds.

Torch sizes its thread pool when it is imported and starts the pool's threads at its first parallel operation; they
inherit the affinity of the thread that starts them. Pinned to fewer CPUs than the pool has threads, every parallel
operation waits at its barriers for threads that share a CPU: a 2M-element float64 operation ran 10x slower on a
2-CPU machine (35 ms against 3.6), and a bench whose trusted side verifies every call's 8 MB outputs on one CPU did
not finish its first round in 120 s on a 16-CPU H200 (session 19; perf-notes)."""
from __future__ import annotations

import contextlib
import os

import torch


def use_cpus(cpus, threads=None):
    """Run this thread on `cpus` (a set of CPU numbers) with `threads` intra-op threads (default: torch's count now),
    at most as many as the CPUs. Returns what to give restore()."""
    was = os.sched_getaffinity(0), torch.get_num_threads()
    os.sched_setaffinity(0, set(cpus))
    torch.set_num_threads(max(1, min(was[1] if threads is None else threads, len(cpus))))
    return was


def restore(was):
    os.sched_setaffinity(0, was[0])
    torch.set_num_threads(was[1])


def spare_cpus(busy):
    """This process's CPUs less `busy` and their hyperthread siblings (from sysfs, where it says): where this side's
    untimed work may run without slowing a timed worker or this side's own clock (a thread spinning on a sibling
    slows its twin)."""
    taken = set(busy)
    for cpu in busy:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list") as f:
                text = f.read().strip()
        except OSError:
            continue
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            if lo.isdigit() and (not hi or hi.isdigit()):
                taken.update(range(int(lo), int(hi or lo) + 1))
    return set(os.sched_getaffinity(0)) - taken


_SPARE = []  # per pinned() block, innermost last: the CPUs and threads unpinned() may use


@contextlib.contextmanager
def pinned(cpu, spare=()):
    """This process's calling thread on one CPU (None: left as it is) for a block, with one intra-op thread; both
    restored after (threads started meanwhile, such as a worker's output drain, keep that CPU; they are idle unless
    a candidate floods its output). `spare`: the CPUs unpinned() may spread this side's work over within the block
    (none: it stays on `cpu`)."""
    if cpu is None:
        yield
        return
    was = use_cpus({cpu})
    _SPARE.append((set(spare) or {cpu}, was[1]))
    try:
        yield
    finally:
        _SPARE.pop()
        restore(was)


@contextlib.contextmanager
def unpinned():
    """Within pinned(): this thread on the block's spare CPUs, with as many intra-op threads as they hold (at most
    its own count before pinning), for work that times nothing (checking the outputs of calls already timed, while
    the worker waits). Outside pinned(): nothing changes."""
    if not _SPARE:
        yield
        return
    was = use_cpus(*_SPARE[-1])
    try:
        yield
    finally:
        restore(was)
