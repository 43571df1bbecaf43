"""Trusted side: a candidate's outputs (bytes from its worker) against the reference's, as KernelBench compares them
(allclose at the tolerance of the output's dtype), with the error against the float64 gold beside it. Plain
element-wise arithmetic in chunks, so that outputs of several GB need no second full-size copy."""
from __future__ import annotations

import math

import torch

# KernelBench's tolerance by the reference output's dtype (1e-4 for fp32, 1e-2 for 16-bit types).
DTYPE_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-4, torch.float16: 1e-2, torch.bfloat16: 1e-2}
# lsemish's own modes on problem 22 (its fp32 output): KernelBench's 1e-4, and 1e-2 for the bf16 mode.
PRECISION_TOLERANCE = {"tf32": 1e-4, "fp32": 1e-4, "bf16": 1e-2}
CHUNK = 1 << 24
GOLD_FACTOR = 4.0


def _arithmetic_device(numel):
    """Where a comparison's arithmetic runs: a GPU for outputs over one chunk (float64 passes over GBs take seconds
    per GB on a CPU), chunk by chunk so that it holds one chunk at a time; the CPU for smaller ones (the bench
    compares every timed call's outputs, and this process keeps off the GPU between a contender's calls)."""
    return "cuda" if numel > CHUNK and torch.cuda.is_available() else "cpu"


def _stats(got, expected, gold, tol):
    """(all within tolerance of the reference, max |got - expected|, ||got - gold|| / ||gold|| or None, any
    non-finite in got where the reference is finite, ||expected - gold|| / ||gold|| or None, any position where the
    reference or the gold is not finite and got is wrong there, all within tolerance of the reference or of the gold
    element by element). Within tolerance where the reference is not finite: the same infinity, or NaN for NaN (as
    torch.isclose). Wrong where the reference or the gold is not finite: unlike the reference, and (where the gold is
    finite: the reference overflowed) not within tolerance of the gold either. The relative errors count the
    positions where both the reference and the gold are finite."""
    g, e = got.reshape(-1), expected.reshape(-1)
    ref = gold.reshape(-1) if gold is not None else None
    ok, max_abs, nonfinite, special, either = True, 0.0, False, False, True
    err2, gold2, ref_err2 = [], [], []  # per chunk: (largest magnitude, sum of squares scaled by it): _norm
    dev = _arithmetic_device(g.numel())
    for start in range(0, g.numel(), CHUNK):
        gc, ec = (t[start:start + CHUNK].to(dev) for t in (g, e))
        rc = None if ref is None else ref[start:start + CHUNK].to(dev)
        wide = [None if t is None else t.double() for t in (gc, ec, rc)]
        part = _finite_chunk(*wide, tol)
        if not (math.isfinite(part[1]) and math.isfinite(part[3][0])):  # NaN or inf in one of them
            part = _any_chunk(*wide, tol)
        ok &= part[0]
        max_abs = max(max_abs, part[1])
        err2.append(part[2])
        gold2.append(part[3])
        ref_err2.append(part[5])
        nonfinite |= part[4]
        special |= part[6]
        either &= part[7]
    rel = None if ref is None else _ratio(_norm(err2), _norm(gold2))
    rel_ref = None if ref is None else _ratio(_norm(ref_err2), _norm(gold2))
    return ok, max_abs, rel, nonfinite, rel_ref, special, either


def _scaled_squares(v):
    """(the largest |v|, the sum of (v / it)^2) of a float64 vector of finite values: its L2 norm is their
    product's square root, without the underflow of squaring values under ~1e-154 (a red team's float64 outputs of
    1e-200 read rel-L2 0 whatever they were) or the overflow of values over ~1e154 (rel-L2 NaN for right ones)."""
    top = float(v.abs().max()) if v.numel() else 0.0
    if top == 0.0 or not math.isfinite(top):
        return top, 0.0 if top == 0.0 else float("nan")
    w = v / top
    return top, float(torch.dot(w, w))


def _norm(parts):
    """The L2 norm, as (scale, sum of squares scaled by it), of the chunks' _scaled_squares."""
    top = max((m for m, _ in parts), default=0.0)
    if top == 0.0:
        return 0.0, 0.0
    if not math.isfinite(top):  # an infinite error (a value that is not finite, or an overflow)
        return float("inf"), 1.0
    return top, sum((m / top) ** 2 * q for m, q in parts)


def _ratio(a, b):
    """||a|| / ||b|| of two _norm results (b's norm 0: as if it were 1e-300, the earlier floor)."""
    if a[1] == 0.0:
        return 0.0
    if b[1] == 0.0:
        return a[0] * a[1] ** 0.5 / 1e-300
    return (a[0] / b[0]) * (a[1] / b[1]) ** 0.5


def _finite_chunk(gc, ec, rc, tol):
    """_any_chunk's figures for float64 chunks that hold no NaN or inf (every trial of a right candidate), in a
    third of its passes over the data (a check of a 6 GB output spent most of its time in them). Where one holds
    NaN or inf, its max_abs or gold2 is not finite (both propagate them): the caller then asks _any_chunk."""
    diff = (gc - ec).abs_()
    within = diff <= ec.abs().mul_(tol).add_(tol)
    ok = bool(within.all())
    max_abs = float(diff.max()) if diff.numel() else 0.0
    if rc is None:
        return ok, max_abs, (0.0, 0.0), (0.0, 0.0), False, (0.0, 0.0), False, True
    off = gc - rc
    err2 = _scaled_squares(off)
    either = ok or bool((within | (off.abs_() <= rc.abs().mul_(tol).add_(tol))).all())
    return ok, max_abs, err2, _scaled_squares(rc), False, _scaled_squares(ec - rc), False, either


def _any_chunk(gc, ec, rc, tol):
    """(ok, max_abs, err2, gold2, nonfinite, ref_err2, special, either) of one float64 chunk (rc: the gold's, or
    None), whatever it holds."""
    diff = (gc - ec).abs()
    nonfinite = bool((~torch.isfinite(gc) & torch.isfinite(ec)).any())
    both_inf = (gc == ec) & torch.isinf(ec)
    both_nan = torch.isnan(gc) & torch.isnan(ec)  # where the reference itself gives NaN, so may the candidate
    # a finite value where the reference is inf is not within (inf <= inf would say so)
    within = ((diff <= tol + tol * ec.abs()) & torch.isfinite(diff)) | both_inf | both_nan
    ok = bool(within.all())
    finite_diff = diff[torch.isfinite(diff)]
    max_abs = float(finite_diff.max()) if finite_diff.numel() else 0.0
    if not (torch.isfinite(diff) | both_inf | both_nan).all():
        max_abs = float("inf")
    if rc is None:
        return ok, max_abs, (0.0, 0.0), (0.0, 0.0), nonfinite, (0.0, 0.0), False, True
    near_gold = ((gc - rc).abs() <= tol + tol * rc.abs()) & torch.isfinite(rc)  # right by the float64 result's standard
    either = bool((within | near_gold).all())
    finite = torch.isfinite(rc) & torch.isfinite(ec)
    special = bool((~finite & ~(both_inf | both_nan) & ~near_gold).any())
    err2 = _scaled_squares((gc - rc)[finite & torch.isfinite(gc)])
    if not bool(torch.isfinite(gc)[finite].all()):  # non-finite where both references are finite: no finite error
        err2 = (float("inf"), 1.0)
    ref_err2 = _scaled_squares((ec - rc)[finite])
    gold2 = _scaled_squares(rc[finite])
    return ok, max_abs, err2, gold2, nonfinite, ref_err2, special, either


# How a trial's outputs are judged (check.RULES picks one per distribution): KernelBench's allclose; allclose and the
# float64 gate (its error against float64 within GOLD_FACTOR times the reference's own, or the tolerance); the gate
# alone (inputs of large or small magnitude, where allclose's fixed terms fail honest candidates or pass any).
ALLCLOSE, BOTH, GOLD = "allclose", "allclose and float64", "float64"


def compare(got, expected, gold=None, tolerance=None, rule=ALLCLOSE):
    """{"passed", "reason" (one line, None when passed), "outputs": [per output: tolerance, max_abs_vs_eager,
    rel_l2_vs_fp64]} for lists of CPU tensors, judged by `rule` (ALLCLOSE, BOTH or GOLD; without a gold, ALLCLOSE).

    The float64 gate: finite wherever the reference is, equal to the reference wherever it or the gold is not finite
    (NaN for NaN, the same infinity), and a relative L2 error against the gold within GOLD_FACTOR times the
    reference's own, or the tolerance, whichever is larger. It catches what allclose's absolute term hides (a softmax
    whose small probabilities are zeroed: each under 1e-4, 40 % of the result; a red team's, session 12)."""
    report = {"passed": True, "reason": None, "outputs": []}

    def fail(text):
        if report["passed"]:
            report.update(passed=False, reason=text)

    if len(got) != len(expected):
        fail(f"returned {len(got)} output(s), the reference {len(expected)}")
    for i, (g, e) in enumerate(zip(got, expected)):
        out = {"index": i}
        report["outputs"].append(out)
        if tuple(g.shape) != tuple(e.shape):
            fail(f"output {i} has shape {tuple(g.shape)}, the reference's is {tuple(e.shape)}")
            continue
        if g.dtype != e.dtype:  # a drop-in returns what the reference returns (float16 for float32 passed allclose)
            fail(f"output {i} is {str(g.dtype).removeprefix('torch.')}, the reference's is "
                 f"{str(e.dtype).removeprefix('torch.')}")
            continue
        if not e.is_floating_point() and not e.is_complex():
            ok = torch.equal(g.to(e.device), e)
            out.update(exact=True, passed=ok)
            if not ok:
                fail(f"output {i} ({str(e.dtype).removeprefix('torch.')}) differs from the reference's")
            continue
        tol = DTYPE_TOLERANCE.get(e.dtype, 1e-4) if tolerance is None else tolerance
        gold_i = gold[i] if gold is not None and isinstance(gold[i], torch.Tensor) else None
        if e.is_complex():  # both parts compared (.double() would drop the imaginary one)
            g, e = torch.view_as_real(g), torch.view_as_real(e)
            gold_i = torch.view_as_real(gold_i) if gold_i is not None and gold_i.is_complex() else None
        ok, max_abs, rel, nonfinite, rel_ref, special, either = _stats(g, e, gold_i, tol) if g.numel() else \
            (True, 0.0, None, False, None, False, True)
        if rule == BOTH and gold_i is not None:  # within tolerance of the reference or of the float64 result: a
            ok = either  # candidate more accurate than a 16-bit reference is not failed for it (a reviewer's, 12)
        out.update(tolerance=tol, passed=ok, max_abs_vs_eager=max_abs, rel_l2_vs_fp64=rel)
        if rule != ALLCLOSE and rel is not None:
            bound = max(GOLD_FACTOR * rel_ref, tol)
            gated = not nonfinite and not special and rel <= bound
            out.update(passed=gated and (ok or rule == GOLD), gold_bound=bound, rel_l2_reference_vs_fp64=rel_ref)
            if not gated:
                fail(f"output {i} is wrong where the reference or the float64 result is NaN or inf (it matches "
                     "neither there)" if special and not nonfinite else
                     f"output {i} is off the float64 result: rel-L2 {rel:.2e}, the reference's {rel_ref:.2e} "
                     f"(bound {bound:.2e})" + ("; it holds NaN or inf where the reference is finite" if nonfinite
                                               else ""))
                continue
            if rule == GOLD:
                continue
        if not ok:
            fail(f"output {i} differs from the reference: max-abs {max_abs:.2e} (tolerance {tol:g})"
                 + ("; it holds NaN or inf (never-written memory?)" if nonfinite else ""))
    return report


def same_values(a, b):
    """Do two lists of outputs hold the same values (a stale answer repeated)?"""
    return len(a) == len(b) and all(isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
                                    and x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b))
