"""Inputs for checks and timings: a problem's own get_inputs() under a seed (KernelBench's protocol), and the same
shapes and dtypes drawn from other distributions (signed, heavy-tailed, ...), never zeros, fresh for every trial.

Both sides use these functions: the trusted side to compute the reference, the worker to feed the candidate; a worker
that fed its candidate anything else could only produce outputs that do not match the reference."""
import random
import sys

import torch

KERNELBENCH = "kernelbench"
L2_FLUSH_BYTES = 256 * 2**20  # what KernelBench fills before each timed call: evicts an H200's 50 MB L2
EDGES = "edges"  # a problem's own edge cases: its edge_inputs(model, seed), where it defines one
# get_inputs() again (under other seeds), judged against the float64 result as well as by allclose: a candidate cannot
# tell these inputs from KernelBench's own, so one that answers KernelBench's distribution wrongly within allclose (a
# softmax of torch.rand inputs returned as the constant 1/dim: every value within 1e-4; red team, session 14) cannot
# answer these rightly instead
GATED = "gated"
# The kernels' own tests draw from these; the evaluator also from EVALUATOR_ONLY (OTHER).
DISTRIBUTIONS = ("rand", "randn", "uniform", "laplace", "lognormal")
EVALUATOR_ONLY = ("scaled", "offset", "small")
# Every check runs KernelBench's protocol (the problem's get_inputs()) and, separately, these others (EDGES only for a
# problem that defines edge_inputs).
OTHER = (GATED, "randn", "uniform", "laplace", "lognormal", "scaled", "offset", "small", EDGES)
ALL = (KERNELBENCH,) + OTHER
# Judged against the float64 result rather than by allclose: rounding error grows with the inputs' magnitude, and
# of small outputs allclose's absolute term passes anything.
GOLD_RULE = ("scaled", "offset", "small")
KERNELBENCH_FALLBACK = "rand"  # the tail of the reuse probe on KernelBench's inputs: torch.rand's distribution
NAMES = {"randn": "signed (normal)", "uniform": "signed (uniform ±1)", "laplace": "heavy-tailed (Laplace)",
         "lognormal": "positive, skewed (log-normal)", "scaled": "large (normal x 50)", "rand": "uniform [0, 1)",
         "offset": "far from zero (normal + 100)", "small": "small (normal x 0.001)",
         KERNELBENCH: "get_inputs()", EDGES: "the problem's edge cases (edge_inputs)",
         GATED: "get_inputs() again, judged against float64 too"}
LIKE_KERNELBENCH = (KERNELBENCH, GATED)  # made by the problem's own get_inputs()


def make_x(dist, shape, generator=None, device="cpu", dtype=torch.float32):
    """A tensor of `shape` drawn from `dist` (see DISTRIBUTIONS), drawn on the generator's device (a GPU draws GBs
    in milliseconds, a CPU in seconds) and returned on `device`."""
    kw = {"generator": generator, "device": generator.device if generator is not None else "cpu"}
    if dist == "rand":
        x = torch.rand(shape, **kw)
    elif dist == "randn":
        x = torch.randn(shape, **kw)
    elif dist == "uniform":
        x = torch.rand(shape, **kw) * 2 - 1
    elif dist == "laplace":
        u = torch.rand(shape, **kw).clamp_(1e-7, 1 - 1e-7) - 0.5
        x = -torch.sign(u) * torch.log1p(-2 * u.abs())
    elif dist == "lognormal":
        x = torch.exp(torch.randn(shape, **kw) * 0.5)
    elif dist == "scaled":  # large magnitudes: an exp without its max subtracted overflows here
        x = torch.randn(shape, **kw) * 50
    elif dist == "offset":  # a mean far larger than the spread: a variance as E[x^2] - E[x]^2 cancels (red team, 12)
        x = torch.randn(shape, **kw) + 100
    elif dist == "small":  # a variance under a norm's eps: eps added to the std instead shows (red team, session 12)
        x = torch.randn(shape, **kw) * 1e-3
    else:
        raise ValueError(f"unknown distribution {dist!r}; valid: {', '.join(DISTRIBUTIONS + EVALUATOR_ONLY)}")
    return x.to(device=device, dtype=dtype)


def generator(seed, device="cpu"):
    """A generator on `device` under `seed`: both sides draw a trial's values on the same kind of device, so they
    agree (a GPU's stream of values differs from a CPU's)."""
    return torch.Generator(device=device).manual_seed(seed)


def problem_inputs(problem, seed, dist=KERNELBENCH, device="cpu", on_device=False, model=None):
    """The inputs of one trial: get_inputs() under torch.manual_seed(seed); for another `dist`, every floating-point
    tensor among them replaced by one of the same shape and dtype drawn from `dist` (integer inputs, e.g. indices
    or labels, and non-tensors are kept as get_inputs() made them), drawn on `device`. `on_device` (KernelBench's
    inputs: get_inputs() itself): drawn
    with `device` as torch's default device (its own generator: other values than on the CPU, the same on both
    sides), so that making them costs the host microseconds instead of tens of milliseconds (a timed call's).
    check draws on the device too where get_inputs() works there (a 6 GB torch.rand on the host took seconds, on
    both sides, every trial); for the other distributions get_inputs() only gives the shapes, dtypes and integer
    tensors. EDGES: the problem's edge_inputs(model, seed), `model` being the problem's own Model built as the reference is
    (inputs made from its weights: both sides build the same one)."""
    if dist == EDGES:
        with torch.no_grad():
            return [v.to(device) if isinstance(v, torch.Tensor) else v for v in problem.edge_inputs(model, seed)]
    if on_device and device != "cpu":  # for every distribution: the others keep get_inputs()'s integer tensors
        _seed_here(seed, device)
        seed_other_generators(seed)
        with torch.device(device):
            values = list(problem.get_inputs())
    else:
        seed_torch(seed)
        seed_other_generators(seed)
        values = list(problem.get_inputs())
    if dist not in LIKE_KERNELBENCH:  # drawn on the device (values made on the CPU cost seconds per GB, seven times a check)
        gen = generator(seed, device)
        values = [make_x(dist, tuple(v.shape), gen, device, dtype=v.dtype) if isinstance(v, torch.Tensor)
                  and v.is_floating_point() else v for v in values]
    return [v.to(device) if isinstance(v, torch.Tensor) else v for v in values]


seed_torch = torch.random.manual_seed  # torch.manual_seed's own function, taken when this module is imported (in a
# worker, before any candidate code): torch.manual_seed becomes dynamo's wrapper once torch.compile is used, and that
# wrapper calls what an attribute of the function names, which a candidate can set (a reviewer's, session 16)


def seed_other_generators(seed):
    """Python's random and, where the problem imported it, numpy's global generator, seeded with torch's: both sides
    then draw the same from them too (a problem's own Model that drew from either failed as itself; red team,
    session 14)."""
    random.seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed % 2**32)


def _seed_here(seed, device):
    """What torch.manual_seed(seed) sets that get_inputs() under `device` draws from (the CPU's generator and the
    device's current one), without seeding every other device and backend: a timed call's inputs are made in the
    request that times it, where torch.manual_seed's 70 us of host work counts (perf-notes, session 11)."""
    torch.default_generator.manual_seed(seed)
    if torch.device(device).type == "cuda":
        index = torch.device(device).index
        index = torch.cuda.current_device() if index is None else index  # first: it starts CUDA, which fills
        torch.cuda.default_generators[index].manual_seed(seed)           # default_generators
    else:
        seed_torch(seed)


REUSE_SPANS = ("half", "one")  # the reuse probes: the second half of each input new, or one value at random


def refill_tail(values, seed, dist, span="half"):
    """In place: the second half (flattened) of every floating-point tensor in `values` drawn afresh from `dist`
    under `seed` (span "half"; the first half, first row included, is left as it was), or one value of each, at a
    position drawn from `seed` (span "one"). The reuse probes: the same memory, mostly the same values, a different
    answer; a candidate that remembers answers by address or by a sample of its input returns the old one (a red
    team's sixteen-value sample noticed the half refill and missed a one-value change, session 12)."""
    gens = {}
    where = torch.Generator().manual_seed(seed)  # the position: the same on both sides, whatever the device
    for v in values:
        if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel() > 1:
            flat = v.view(-1) if v.is_contiguous() else None
            if flat is None:
                continue
            first = flat.numel() // 2 if span == "half" else int(torch.randint(flat.numel(), (1,), generator=where))
            last = flat.numel() if span == "half" else first + 1
            # inputs a problem made (get_inputs(), edge_inputs) have no distribution to draw from: torch.rand's
            source = KERNELBENCH_FALLBACK if dist in LIKE_KERNELBENCH + (EDGES,) else dist
            gen = gens.setdefault(v.device, generator(seed, v.device))
            with torch.no_grad():  # inputs that require grad (a red team's problem, session 28) are refilled too
                flat[first:last] = make_x(source, (last - first,), gen, v.device, dtype=v.dtype)
    return values
