"""Both sides: a timed call's outputs committed right after the call, as digests under a key the worker learns only
then (a weighted sum of every element, the weights drawn from the key), so that the outputs must exist, whole,
within the request whose time counts; the trusted side checks every digest against the reference's outputs and
against the outputs it fetches later.

The weights are integer arithmetic turned into float64 (the same values on any device), the sums float64 with
non-finite elements counted as 0. For an output within allclose(rtol=atol=tol) of the reference, made before the
key was known, the digests differ by a sum of independent terms |w_i e_i| <= tol (1 + |ref_i|): by Hoeffding, more
than SIGMAS times the root of the summed squared bounds with probability below 2 exp(-SIGMAS**2 / 2), about 1e-14.
A wrong, stale, scaled or not-yet-computed output differs by about the root of its summed squared errors over
sqrt 3, far more. Small errors (an offset of a few tolerances) can hide in one digest: they are for the full
comparison of the sampled calls.
(A bound linear in the element count would be exact but lets a wholly wrong output of 10**8 elements through.)
"""
from __future__ import annotations

import torch

P = 2_147_483_629  # a prime below 2**31: (index mod P) * a + b stays within int64
CHUNK = 1 << 24
SIGMAS = 8.0
ROUNDING = 1e-12  # float64 sums in different orders (CPU, GPU), relative to the sum of |w x|


def new_key(rng):
    return (rng.randrange(1, P), rng.randrange(P), rng.randrange(1, P), rng.randrange(P))


def _weights(key, start, n, device):
    """Weights in [-1, 1): a quadratic hash of the index mod P (a linear one is equidistributed over consecutive
    indices, so a constant error would cancel in the sum)."""
    a, b, c, d = key
    y = ((torch.arange(start, start + n, device=device, dtype=torch.int64) % P) * a + b) % P
    return ((((y * y) % P) * c + d) % P).double() / P * 2 - 1


def _device_sums(t, key, tol=0.0):
    """(sum w*x, sum of squared bounds, sum |w x|) as float64 tensors on t's device, in chunks."""
    flat = t.reshape(-1)
    total, squares, magnitude = (torch.zeros((), dtype=torch.float64, device=t.device) for _ in range(3))
    for start in range(0, flat.numel(), CHUNK):
        x = flat[start:start + CHUNK].double()
        w = _weights(key, start, x.numel(), t.device)
        finite = torch.isfinite(x)
        x = torch.where(finite, x, torch.zeros_like(x))
        total += (w * x).sum()
        squares += (((tol + tol * x.abs()) * finite) ** 2).sum()
        magnitude += (w * x).abs().sum()
    return total, squares, magnitude


def _sums(t, key, tol=0.0):
    """(sum w*x, the bound on a digest's difference for an output within tol of t) in float64."""
    total, squares, magnitude = (float(v) for v in _device_sums(t, key, tol))
    return total, SIGMAS * squares ** 0.5 + ROUNDING * magnitude


def read_back(values, stack=torch.stack):
    """The Python values of 0-dim tensors, in one transfer where they are all on one device. `stack`: the worker
    passes its own reference, taken before any candidate code ran."""
    one_device = len({v.device for v in values}) == 1
    return stack(values).tolist() if one_device else [v.item() for v in values]


def digests(calls, key):
    """[[digest per output] per call] (None for a non-tensor output), read back from the device at once."""
    sums = [_device_sums(t, key)[0] for outs in calls for t in outs if isinstance(t, torch.Tensor) and t.numel()]
    totals = iter(read_back(sums))
    return [[(next(totals) if t.numel() else 0.0) if isinstance(t, torch.Tensor) else None for t in outs]
            for outs in calls]


def digest(outputs, key):
    """[digest per output] (None for a non-tensor output)."""
    return digests([outputs], key)[0]


def check(digests, expected, key, tolerances, shapes=None):
    """None when each digest is within the bound of the reference output's (`expected`, CPU tensors), and each
    shape (when given) is the reference's; else one line naming the output. `tolerances`: per output, allclose's
    tolerance (0 for exact outputs)."""
    if not isinstance(digests, list) or len(digests) != len(expected):
        return f"committed {len(digests) if isinstance(digests, list) else 'no'} digest(s) for {len(expected)} output(s)"
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
        if not isinstance(d, (int, float)) or d != d:
            return f"output {i}'s digest is {d!r}"
        want, allowance = _sums(e, key, tol)
        allowance += 1e-300
        if abs(d - want) > allowance:
            return f"output {i} does not match the reference (digest {d:.6g}, the reference's {want:.6g} ± {allowance:.2g})"
    return None


def same(digests, outputs, key):
    """Do fetched outputs still have the digests committed right after their call (up to float64 rounding)? The
    digests come from the worker: anything but a list of numbers (None for a non-tensor) is not the same."""
    if not isinstance(digests, list) or len(digests) != len(outputs):
        return False
    for d, t in zip(digests, outputs):
        if d is None or not isinstance(t, torch.Tensor) or not t.numel():
            continue
        if not isinstance(d, (int, float)):
            return False
        now, rounding = _sums(t, key)
        if abs(d - now) > 10 * rounding + 1e-300:
            return False
    return True
