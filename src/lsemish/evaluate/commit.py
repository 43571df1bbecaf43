"""Both sides: a timed call's outputs committed right after the call, as digests under a key the worker learns only
then (weighted sums of the elements, the weights drawn from the key), so that the outputs must exist, whole,
within the request whose time counts; the trusted side checks every digest against the reference's outputs and
against the outputs it fetches later.

An output's digest is one weighted sum per contiguous stretch of its elements (up to SEGMENTS stretches). The weights
are integer arithmetic turned into float64 (the same values on any device), the sums float64 with non-finite
elements counted as 0. For an output within allclose(rtol=atol=tol) of the reference, made before the key was known,
a stretch's sums differ by a sum of independent terms |w_i e_i| <= tol (1 + |ref_i|): by Hoeffding, more than SIGMAS
times the root of the summed squared bounds with probability below 2 exp(-SIGMAS**2 / 2), about 1e-14 (1e-12 for
all 64 stretches). A wrong output's stretch differs by about the root of its summed squared errors over sqrt 3: a
wholly wrong output of values near 1 passes one sum with a probability near 8 sqrt(3) tol (measured for one sum per
output, benchmarks/evaluator/digest_false_accept.py: 0.2 % at tol 1e-4, 22 % at 1e-2), and must pass all 64 here;
an error confined to a few stretches meets their bound alone, not the whole output's. Errors of a few tolerances
can still hide (each stretch's bound is SIGMAS tolerances wide): they are for the full comparison of the sampled
calls. (A bound linear in the element count would be exact but lets a wholly wrong output of 10**8 elements through.)
"""
from __future__ import annotations

import math

import torch

P = 2_147_483_629  # a prime below 2**31: (index mod P) * a + b stays within int64
CHUNK = 1 << 24
SIGMAS = 8.0
SEGMENTS = 64  # an output's digest: one sum per contiguous stretch of its elements, up to this many stretches
ROUNDING = 1e-12  # float64 sums in different orders (CPU, GPU), relative to the sum of |w x|


def new_key(rng):
    return (rng.randrange(1, P), rng.randrange(P), rng.randrange(1, P), rng.randrange(P))


WEIGHTS_KEPT_BYTES = 1 << 28  # the weights of the latest key kept (per process), up to this many bytes
_KEPT = (None, {})  # (the latest key, {(start, n, device): its weights}); replaced whole when the key changes


def _weights(key, start, n, device):
    """_draw_weights(key, start, n, device), kept for the latest key: the trusted side checks a queued request's
    hundred calls (and each fetched output) under one key, and drawing the weights anew cost 16 ms per call on the
    CPU (60 % of a small problem's digest checks, session 23's profile). Kept tensors are only read (w * x). Kept on
    the CPU only: drawn on a GPU they cost a few launches, and a worker's GPU memory is the candidate's."""
    global _KEPT
    key = tuple(key)  # a list changed in place later must not find another key's weights
    if torch.device(device).type != "cpu":
        return _draw_weights(key, start, n, device)
    kept_key, kept = _KEPT
    if kept_key != key:
        kept = {}
        _KEPT = (key, kept)
    at = (start, n, str(device))
    w = kept.get(at)
    if w is None:
        w = _draw_weights(key, start, n, device)
        if sum(v.nbytes for v in list(kept.values())) + w.nbytes <= WEIGHTS_KEPT_BYTES:
            kept[at] = w
    return w


def _draw_weights(key, start, n, device):
    """Weights in [-1, 1): a quadratic hash of the index mod P (a linear one is equidistributed over consecutive
    indices, so a constant error would cancel in the sum)."""
    a, b, c, d = key
    y = ((torch.arange(start, start + n, device=device, dtype=torch.int64) % P) * a + b) % P
    return ((((y * y) % P) * c + d) % P).double() / P * 2 - 1


def stretches(n):
    """(length, count) of the contiguous stretches an output of n elements is digested in: up to SEGMENTS of equal
    length, the last possibly shorter."""
    if n <= 0:
        return 1, 0
    length = -(-n // min(SEGMENTS, n))
    return length, -(-n // length)


def _fold(acc, first, values, length):
    """acc[first + j] += the sum of the j-th run of `length` elements of `values` (the last run may be shorter)."""
    m = values.numel()
    if m <= length:
        acc[first] += values.sum()
        return
    whole = m // length
    acc[first:first + whole] += values[:whole * length].view(whole, length).sum(1)
    if whole * length < m:
        acc[first + whole] += values[whole * length:].sum()


def _device_sums(t, key, tol=0.0, bounds=True):
    """Per stretch (float64 vectors on t's device): sum w*x, the sum of squared bounds, sum |w x|. In passes of up
    to CHUNK elements that start where a stretch starts (or, for stretches longer than CHUNK, inside one)."""
    flat = (torch.view_as_real(t) if t.is_complex() else t).reshape(-1)  # both parts of a complex output
    n = flat.numel()
    length, count = stretches(n)
    total, squares, magnitude = (torch.zeros(count, dtype=torch.float64, device=t.device) for _ in range(3))
    per_pass = max(1, CHUNK // length)
    for s0 in range(0, count, per_pass):
        lo, hi = s0 * length, min(n, (s0 + per_pass) * length)
        for start in range(lo, hi, CHUNK):
            x = flat[start:min(hi, start + CHUNK)].double()
            w = _weights(key, start, x.numel(), t.device)
            finite = torch.isfinite(x)
            x = torch.where(finite, x, torch.zeros_like(x))
            first = start // length
            _fold(total, first, w * x, length)
            if bounds:  # the trusted side's (the worker commits the sums alone)
                _fold(squares, first, ((tol + tol * x.abs()) * finite) ** 2, length)
                _fold(magnitude, first, (w * x).abs(), length)
    return total, squares, magnitude


def _sums(t, key, tol=0.0):
    """Per stretch: (sum w*x, the bound on a digest's difference for an output within tol of t), float64 lists."""
    total, squares, magnitude = (v.tolist() for v in _device_sums(t, key, tol))
    return total, [SIGMAS * q ** 0.5 + ROUNDING * m for q, m in zip(squares, magnitude)]


def read_back(values, cat=torch.cat):
    """The Python numbers of tensors (0-dim or 1-d), in order, flattened, in one transfer where they are all on one
    device. `cat`: the worker passes its own reference, taken before any candidate code ran."""
    if not values:
        return []
    if len({v.device for v in values}) == 1:
        return cat([v.reshape(-1) for v in values]).tolist()
    return [x for v in values for x in v.reshape(-1).tolist()]


def finite_number(v):
    """Is a value from the worker (untrusted: any JSON value) a finite number? Integers only where a float holds them
    exactly (a huge one overflowed a comparison: a reviewer's crash, session 12)."""
    return (type(v) is float and math.isfinite(v)) or (type(v) is int and abs(v) <= 2**53)


def _batched_totals(group, key):
    """The per-stretch sums of w*x (as _device_sums' first vector) of tensors of one shape and dtype, n elements each
    (n <= CHUNK), in one pass over them stacked: a handful of launches for the lot instead of some twenty per tensor
    (a block of 100 outputs cost ~50 ms of digests one at a time on an H200, session 13, most of the work floor's
    room). The sums run in another order than one tensor's; the trusted side allows float64 rounding (ROUNDING)."""
    flat = torch.stack([(torch.view_as_real(t) if t.is_complex() else t).reshape(-1) for t in group]).double()
    n = flat.shape[1]
    length, _ = stretches(n)
    x = torch.where(torch.isfinite(flat), flat, torch.zeros_like(flat)) * _weights(key, 0, n, flat.device)
    whole = n // length
    parts = [x[:, :whole * length].reshape(len(group), whole, length).sum(2)] if whole else []
    if whole * length < n:
        parts.append(x[:, whole * length:].sum(1, keepdim=True))
    return list((torch.cat(parts, 1) if len(parts) > 1 else parts[0]).unbind(0))


def digests(calls, key):
    """[[digest per output] per call]: a digest is one sum per stretch of the output (a list; [] for an empty
    output, None for a non-tensor one), read back from the device at once."""
    return unflatten(read_back(_all_sums(calls, key)), counts(calls))


def digests_sent(calls, key):
    """digests() as the worker sends them: (every sum in order, in one float64 tensor on the CPU; counts(calls)).
    One binary transfer: as JSON numbers, 100 outputs of 1024 elements (6400 sums) cost ~10 ms of a commitment's
    request on an H200, two thirds of the queued calls' protocol (session 14, queued-protocol-1)."""
    sums = _all_sums(calls, key)
    flat = torch.cat([v.reshape(-1) for v in sums]) if sums else torch.zeros(0, dtype=torch.float64)
    return flat.cpu(), counts(calls)


def counts(calls):
    """[[how many sums its digest has, or None for a non-tensor output] per call]."""
    return [[(_count(t) if t.numel() else 0) if isinstance(t, torch.Tensor) else None for t in outs]
            for outs in calls]


def unflatten(values, counts_):
    """[[digest per output] per call] from the sums in order and their counts; None where they do not fit (a
    worker's reply: untrusted)."""
    if not isinstance(counts_, list) or not all(isinstance(c, list) for c in counts_):
        return None
    sizes = [n for c in counts_ for n in c]
    if any(n is not None and (type(n) is not int or n < 0) for n in sizes) or \
            sum(n for n in sizes if n is not None) != len(values):
        return None
    it = iter(values)
    return [[None if n is None else [next(it) for _ in range(n)] for n in c] for c in counts_]


def _all_sums(calls, key):
    """The per-stretch sums (float64 vectors on the outputs' device) of every non-empty tensor output, in order.
    Outputs of one shape and dtype are digested together, CHUNK elements at a time (_batched_totals); larger ones
    alone (_device_sums)."""
    tensors = [t for outs in calls for t in outs if isinstance(t, torch.Tensor) and t.numel()]
    sums = [None] * len(tensors)
    groups = {}
    for k, t in enumerate(tensors):
        if _elements(t) <= CHUNK // 2:
            groups.setdefault((tuple(t.shape), t.dtype, t.device), []).append(k)
        else:
            sums[k] = _device_sums(t, key, bounds=False)[0]
    for members in groups.values():
        per = max(1, CHUNK // _elements(tensors[members[0]]))
        for first in range(0, len(members), per):
            batch = members[first:first + per]
            for k, total in zip(batch, _batched_totals([tensors[k] for k in batch], key)):
                sums[k] = total
    return sums


def digest(outputs, key):
    """[digest per output] (None for a non-tensor output)."""
    return digests([outputs], key)[0]


def _elements(t):
    """How many numbers t's digest sums (a complex tensor's real and imaginary parts count as elements)."""
    return t.numel() * (2 if t.is_complex() else 1)


def _count(t):
    """How many stretches t's digest has."""
    return stretches(_elements(t))[1]


def _numbers(d, count):
    """Is a digest from the worker `count` finite numbers?"""
    return isinstance(d, list) and len(d) == count and all(finite_number(v) for v in d)


NOT_BY_DIGEST = "cannot be judged by its digest"  # bench then fetches the outputs and compares them in full


def check(digests, expected, key, tolerances, shapes=None):
    """None when each digest is within the bound of the reference output's (`expected`, CPU tensors), and each
    shape (when given) is the reference's; else one line naming the output. `tolerances`: per output, allclose's
    tolerance (0 for exact outputs)."""
    if not isinstance(digests, list) or len(digests) != len(expected):
        count = len(digests) if isinstance(digests, list) else "no"
        return f"committed {count} digest(s) for {len(expected)} output(s)"
    for i, (d, e, tol) in enumerate(zip(digests, expected, tolerances)):
        if not isinstance(e, torch.Tensor):
            continue
        if shapes is not None and (not isinstance(shapes, list) or len(shapes) != len(expected)
                                   or shapes[i] != list(e.shape)):
            got = shapes[i] if isinstance(shapes, list) and i < len(shapes) else None
            return f"output {i} has shape {tuple(got) if isinstance(got, list) else got}, the reference's is " \
                   f"{tuple(e.shape)}"
        if not e.numel():
            continue
        want, allowance = _sums(e, key, tol)
        if not all(math.isfinite(v) for v in want + allowance):  # float64 sums of values over ~1e154 overflow
            return f"output {i} {NOT_BY_DIGEST} (the reference's values are too large for float64 sums)"
        if not _numbers(d, len(want)):
            return f"output {i}'s digest is not {len(want)} numbers: {str(d)[:80]}"
        off = [j for j, (x, y, a) in enumerate(zip(d, want, allowance)) if abs(x - y) > a + 1e-300]
        if off:
            j = off[0]
            return f"output {i} does not match the reference ({len(off)} of its {len(want)} stretches differ; " \
                   f"stretch {j}: digest {d[j]:.6g}, the reference's {want[j]:.6g} ± {allowance[j]:.2g})"
    return None


def same(digests, outputs, key):
    """Do fetched outputs still have the digests committed right after their call (up to float64 rounding)? The
    digests come from the worker: anything but a list of numbers (None for a non-tensor) is not the same."""
    if not isinstance(digests, list) or len(digests) != len(outputs):
        return False
    for d, t in zip(digests, outputs):
        if not isinstance(t, torch.Tensor) or not t.numel():
            continue
        now, rounding = _sums(t, key)
        if not _numbers(d, len(now)) or any(abs(x - y) > 10 * r + 1e-300 for x, y, r in zip(d, now, rounding)):
            return False
    return True
