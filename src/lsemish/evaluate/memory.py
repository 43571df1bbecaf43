"""Trusted side: what a check of a problem needs in memory, estimated before anything is allocated (the problem's
inputs, parameters and outputs on PyTorch's meta device), against what the device has."""
from __future__ import annotations

import math

import torch

GIB = 2**30


def _nbytes(values):
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


def footprint(problem, seed=0):
    """{"inputs", "params", "outputs"} in bytes for one trial (outputs None when the meta forward fails), and
    "output_shapes": the reference's outputs as [[shape, dtype name] or None (not a tensor)] (None with outputs)."""
    with torch.device("meta"):
        torch.manual_seed(seed)
        args = list(problem.get_inputs())
        model = problem.Model(*problem.get_init_inputs())
        params = _nbytes(list(model.parameters()) + list(model.buffers()))
        try:
            with torch.no_grad():
                out = model(*args)
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
            outputs = _nbytes(outs)
            shapes = [[list(t.shape), str(t.dtype).removeprefix("torch.")] if isinstance(t, torch.Tensor) else None
                      for t in outs]
        except Exception:  # an op without a meta kernel: outputs unknown, estimated as the inputs' size
            outputs = shapes = None
    return {"inputs": _nbytes(args), "params": params, "outputs": outputs, "output_shapes": shapes}


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
    """Bytes a check holds at once, from the peaks both processes reached on an H200 over the 143 official
    KernelBench problems that passed there (benchmarks/results/2026-11-30-NVIDIA-H200/official-gpu-2/; the largest
    set the factors; the old estimate was 60 GiB where 90 were used): the worker holds its parameters, up to six times
    its inputs (the inputs, their copy for the input check, the distributions' temporaries) and its outputs; the
    trusted side the reference and its float64 gold: three times the parameters, seven times the inputs, five times
    the outputs (float64 twice, the kept copy, and since session 17 the candidate's outputs received on the device
    instead of the host: wire.recv). A model's own intermediates (a convolution's output before its pooling) are
    not seen on the meta device: up to ~10 GiB more on those problems."""
    outputs = size["outputs"] if size["outputs"] is not None else size["inputs"]
    worker = size["params"] + 6 * size["inputs"] + outputs
    trusted = 3 * size["params"] + 7 * size["inputs"] + 5 * outputs
    return worker + trusted


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
