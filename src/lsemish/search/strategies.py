"""Which candidates become the next round's parents (each gets its own prompt and `samples` children).

greedy: the best passing candidate so far (fastest per call when timed, newest when not), as the seed's loop does.
best-of-n: the fastest passing candidate of the last round (newest when untimed), even if an earlier one was faster;
the parent stays when none of its children passed.
beam K: the K best passing candidates among the current parents and their children.
"""
from __future__ import annotations

STRATEGIES = ("greedy", "best-of-n", "beam")


def passed(rec):
    return rec.get("status", "").startswith("pass")


def _new_pass(rec):
    """Passed, and is not a repeat of an earlier candidate's code (same_as): a repeat is that candidate (which a final
    bench may since have rejected), and would take a second place among parents."""
    return passed(rec) and not rec.get("same_as")


def _key(rec, timed):
    """Sort key: lower is better. Timed: per-call latency (untimed passes last); untimed: newer first."""
    if timed:
        return (rec.get("call_ms") is None, rec.get("call_ms") or 0.0, -rec["order"])
    return (0, 0.0, -rec["order"])


def better(rec, best, timed):
    """Does rec beat best (None: anything new that passed does)?"""
    if not _new_pass(rec):
        return False
    return best is None or _key(rec, timed) < _key(best, timed)


def best_of(records, timed):
    """The best passing record (better's order; the first of equals), or None."""
    best = None
    for rec in records:
        if better(rec, best, timed):
            best = rec
    return best


def select(strategy, parents, children, everything, timed, beam=2):
    """The next parents (records), from the current parents, this round's children and every candidate so far."""
    if strategy == "greedy":
        best = best_of(everything, timed)
        return [best] if best else parents
    if strategy == "best-of-n":
        good = sorted((c for c in children if _new_pass(c)), key=lambda r: _key(r, timed))
        return good[:1] or parents
    if strategy == "beam":
        pool = {r["id"]: r for r in list(parents) + list(children) if _new_pass(r)}
        chosen = sorted(pool.values(), key=lambda r: _key(r, timed))[:beam]
        return chosen or parents
    raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
