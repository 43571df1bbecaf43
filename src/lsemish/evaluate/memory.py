"""Trusted side: what a check of a problem needs in memory, estimated before anything is allocated (the problem's
inputs, parameters, outputs and the forward's own intermediates on PyTorch's meta device), against what the device
has."""
from __future__ import annotations

import math
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

GIB = 2**30


def _nbytes(values):
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


class _LiveBytes(TorchDispatchMode):
    """The most bytes of new tensor memory alive at once while a forward runs (on the meta device, where nothing is
    allocated): each op's outputs count once per storage, from their making until the last tensor on that storage is
    gone; the storages of `known` (the inputs and parameters, there before the forward) never count."""

    def __init__(self, known):
        super().__init__()
        self.known = {t.untyped_storage()._cdata for t in known if isinstance(t, torch.Tensor)}
        self.live = {}  # storage -> [bytes, tensors on it]
        self.now = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._made(t)
        return out

    def _made(self, t):
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # a tensor without one storage (sparse, nested): not counted
            return
        key = storage._cdata
        if key in self.known:
            return
        entry = self.live.get(key)
        if entry is None:
            entry = self.live[key] = [storage.nbytes(), 0]
            self.now += entry[0]
            self.peak = max(self.peak, self.now)
        entry[1] += 1
        weakref.finalize(t, self._gone, key)

    def _gone(self, key):
        entry = self.live.get(key)
        if entry is not None:
            entry[1] -= 1
            if entry[1] == 0:
                self.now -= entry[0]
                del self.live[key]


def footprint(problem, seed=0):
    """{"inputs", "params", "outputs", "forward_peak"} in bytes for one trial - forward_peak: the most memory the
    forward's own tensors (intermediates and outputs) hold at once (outputs and forward_peak None when the meta
    forward fails) - and "output_shapes": the reference's outputs as [[shape, dtype name] or None (not a tensor)]
    (None with outputs)."""
    with torch.device("meta"):
        torch.manual_seed(seed)
        args = list(problem.get_inputs())
        model = problem.Model(*problem.get_init_inputs())
        held = list(model.parameters()) + list(model.buffers())
        params = _nbytes(held)
        try:
            live = _LiveBytes(args + held)
            with torch.no_grad(), live:
                out = model(*args)
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
            outputs, forward_peak = _nbytes(outs), live.peak
            shapes = [[list(t.shape), str(t.dtype).removeprefix("torch.")] if isinstance(t, torch.Tensor) else None
                      for t in outs]
        except Exception:  # an op without a meta kernel: outputs unknown, estimated as the inputs' size
            outputs = shapes = forward_peak = None
    return {"inputs": _nbytes(args), "params": params, "outputs": outputs, "forward_peak": forward_peak,
            "output_shapes": shapes}


def footprint_or_none(problem):
    """footprint(), or None where the problem cannot run on the meta device (get_inputs or Model fail there)."""
    try:
        return footprint(problem)
    except Exception:
        return None


def output_room(size):
    """Bytes of shared memory a worker's outputs take (wire.room of each, for each one's aligned offset), or None
    where the meta device could not tell them."""
    if size is None or size["outputs"] is None:
        return None
    from .wire import CARRIED, room
    return sum(room(math.prod(shape) * torch.empty((), dtype=CARRIED[dtype]).element_size())
               for shape, dtype in filter(None, size["output_shapes"]) if dtype in CARRIED)


def check_needs(size):
    """Bytes a check holds at once, both processes together: a sum of what each holds at its peak, fitted to the
    peaks measured on an H200 over the 197 official KernelBench problems that passed there and the two norms that
    did not fit (benchmarks/results/2026-12-01-NVIDIA-H200/official-gpu-4/memory-fit.txt; the largest set the
    factors). The worker holds its parameters, up to six times its inputs (the inputs, their copy for the input
    check, the distributions' temporaries) and twice its outputs; the trusted side the reference and its float64
    gold: four times the parameters, seven times the inputs, five times the outputs (float64 twice, the kept copy,
    the candidate's outputs received on the device: wire.recv). A forward whose own intermediates outgrow its outputs
    (a convolution's output before its pooling) adds three times the difference (the worker's in fp32, the gold's in
    float64); one GiB more for the two CUDA contexts and the allocators' rounding. (A max of each process's phases
    instead of their sum fits the elementwise problems closer but let L1Norm start where it does not fit: its
    float64 reference holds more than its meta forward shows; official-gpu-4's README.)"""
    outputs = size["outputs"] if size["outputs"] is not None else size["inputs"]
    forward = size.get("forward_peak")
    params, inputs = size["params"], size["inputs"]
    worker = params + 6 * inputs + 2 * outputs
    trusted = 4 * params + 7 * inputs + 5 * outputs
    intermediates = 3 * max(0, forward - outputs) if forward is not None else 0
    return worker + trusted + intermediates + GIB


def peak_bytes(device):
    """This process's peak memory so far: the GPU allocator's on a GPU, the resident set's on the CPU."""
    if device == "cuda":
        return int(torch.cuda.max_memory_allocated())
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available(device):
    if device == "cuda":
        free, _ = torch.cuda.mem_get_info()
        return free, torch.cuda.get_device_name()
    with open("/proc/meminfo") as fh:
        info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh}
    return info.get("MemAvailable", 0), "this machine's RAM"


def does_not_fit(size, device, sizes_text, have=None):
    """None when a check fits; else one line: what it needs, what the device has (`have`: (bytes, where) instead of
    what is free now), and the sizes --set can change. `size`: footprint_or_none(problem) (None: no estimate, the
    check goes ahead)."""
    if size is None:
        return None
    need = check_needs(size)
    have, where = have or available(device)
    if need <= have:
        return None
    return (f"needs about {need / GIB:.1f} GiB for a check (inputs {size['inputs'] / GIB:.2f} GiB, parameters "
            f"{size['params'] / GIB:.2f} GiB, outputs "
            + ("unknown" if size["outputs"] is None else f"{size['outputs'] / GIB:.2f} GiB")
            + f"; the worker's copy and the float64 reference included) and {where} has {have / GIB:.1f} GiB free; "
            f"make it smaller with --set NAME=VALUE (its sizes: {sizes_text or 'none'})")
