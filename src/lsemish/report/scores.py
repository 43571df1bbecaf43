"""KernelBench's suite scores (its src/kernelbench/score.py), on plain lists: per problem whether the kernel is correct,
the baseline's time and the kernel's time (speedup = baseline / kernel).

fast_p: the fraction of ALL problems whose kernel is correct and more than p times faster than the baseline.
geomean (correct only): the geometric mean of the speedups of correct kernels.
geomean (correct and faster): the same over correct kernels with a speedup above 1.
An empty selection scores 0, as KernelBench's functions do."""
from __future__ import annotations

import math

P_VALUES = (0.0, 1.0, 1.5, 2.0)


def _speedups(correct, baseline, actual):
    return [b / a for ok, b, a in zip(correct, baseline, actual) if ok]


def fast_p(correct, baseline, actual, p):
    n = len(correct)
    return sum(s > p for s in _speedups(correct, baseline, actual)) / n if n else 0.0


def _geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else 0.0


def geomean_correct(correct, baseline, actual):
    return _geomean(_speedups(correct, baseline, actual))


def geomean_correct_and_faster(correct, baseline, actual):
    return _geomean([s for s in _speedups(correct, baseline, actual) if s > 1])


def scores(correct, baseline, actual, p_values=P_VALUES):
    """{"n", "correct", "fast_p": {p: score}, "geomean_correct", "geomean_correct_and_faster"}."""
    return {"n": len(correct), "correct": sum(bool(c) for c in correct),
            "fast_p": {p: fast_p(correct, baseline, actual, p) for p in p_values},
            "geomean_correct": geomean_correct(correct, baseline, actual),
            "geomean_correct_and_faster": geomean_correct_and_faster(correct, baseline, actual)}
