"""Messages between the trusted side and a worker: a JSON header and raw tensor bytes, never pickle.

A frame is 8 bytes of header length (big-endian), the header as UTF-8 JSON, then the bytes of each tensor the header
lists under "tensors" ({"dtype", "shape"}), contiguous, in order. Nothing in a frame can run code when it is read:
the trusted side reads whatever a candidate's worker sends with `recv`, which rebuilds plain CPU tensors.

A worker may also hold the trusted side's shared output memory (a sealed memfd of fixed size, sandbox.Worker): a
reply whose tensors fit in it together puts them there, each at the "offset" its spec names, and the frame carries no
bytes ("bulk": true). A pipe moved a 6.4 GB output at 0.87 GB/s on an H200 machine (7.4 s of a 13.5 s trial, issue
26); through the memory it is one copy on each side. The trusted side reads the memory with preadv into its own
tensors before the reply counts as received: what the worker writes there later changes nothing it judged, and a
read past the end is a short read (a malformed frame), never a fault. Given a `device`, the trusted side puts large
tensors there directly, through a small staging buffer (pinned on a GPU's host): the comparison runs there anyway,
and a whole host copy cost 3.9 s of a 5.8 s trial at 6.4 GB (preadv into fresh pages, 1.65 GB/s; session 17).
"""
from __future__ import annotations

import json
import os
import select
import struct
import time

import torch

MAX_HEADER = 1 << 20
MAX_TENSOR = 1 << 38  # 256 GiB: more than any device holds
BULK_ALIGN = 64  # each tensor's offset in the shared output memory
DEVICE_MIN = 1 << 26  # a shared-memory tensor of 64 MiB or more goes straight to recv's device (if it is given one)
STAGE = 1 << 26  # the staging buffer's bytes
_staging = {}  # device type -> the staging buffer (one per process, reused)
CARRIED = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16, torch.int8,
    torch.uint8, torch.bool, torch.complex64, torch.complex128)}


class WireError(Exception):
    """The other side closed the channel, sent a malformed frame, or did not answer in time."""


class NoMemoryHere(WireError):
    """This side had no host memory for a tensor of the shared output memory, whose size this side chose: its own
    shortage, not a malformed frame."""


class ReplyTooLarge(WireError):
    """No host memory here for a tensor a reply sends through the pipe: a size the sender chose (a reviewer claimed
    200 GiB to turn a rejection into "no verdict", session 17), so the sender's failure."""


def structure(value):
    """How a model's result is packed, as KernelBench's caller sees it: "a tensor", "a tuple of N" or "a list of N"
    (a drop-in returns what the reference returns; its allclose fails on a tuple where a tensor is due)."""
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__ if type(value) in (tuple, list) else 'sequence'} of {len(value)}"
    return "a tensor"


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view[:1 << 24])
        view = view[n:]


def _plain(t):
    """The tensor with conjugate and negative views resolved, on its own device; WireError for a dtype not carried."""
    if t.dtype not in CARRIED.values():
        raise WireError(f"an output of dtype {t.dtype} (it carries {', '.join(sorted(CARRIED))})")
    return t.detach().resolve_conj().resolve_neg()


def _payload(t):
    """A tensor as a plain, contiguous CPU copy and a view of its bytes (no second copy: a 6 GB output is copied from
    the device once)."""
    t = _plain(t).to("cpu").contiguous()
    return t, (memoryview(t.reshape(-1).view(torch.uint8).numpy()) if t.numel() else b"")


def room(nbytes):
    """The shared memory a tensor of `nbytes` takes (its offset aligned to BULK_ALIGN)."""
    return -(-nbytes // BULK_ALIGN) * BULK_ALIGN


def _bulk_offsets(tensors, size):
    """Each tensor's offset in a shared memory of `size` bytes, or None where they do not fit in it together (from
    shapes and dtypes alone: nothing is copied for a layout that does not fit)."""
    offsets, end = [], 0
    for t in tensors:
        offsets.append(end)
        end += room(t.numel() * t.element_size())
    return offsets if end <= size else None


def send(fd, header: dict, tensors=(), bulk=None):
    """Write one frame: header (made JSON) and the tensors' bytes, or, with `bulk` (the shared output memory, a
    writable mmap) where they fit there, the tensors copied into it and their offsets in the header. Everything is
    converted before the first byte is written, so that a tensor that cannot be sent leaves no half-written frame."""
    offsets = _bulk_offsets(tensors, len(bulk)) if bulk is not None and tensors else None
    if offsets is None:
        parts = [_payload(t) for t in tensors]
        specs = [_spec(t) for t, _ in parts]
    else:
        plain, parts = [_plain(t) for t in tensors], []  # copy_ below takes any strides: no contiguous copy first
        for t, offset in zip(plain, offsets):
            nbytes = t.numel() * t.element_size()
            if nbytes:  # straight from the device into the shared memory: one copy
                torch.frombuffer(bulk, dtype=torch.uint8, count=nbytes, offset=offset).view(t.dtype).view(
                    t.shape).copy_(t)
        specs = [dict(_spec(t), offset=offset) for t, offset in zip(plain, offsets)]
        header = dict(header, bulk=True)
    body = json.dumps(dict(header, tensors=specs)).encode()
    _write_all(fd, struct.pack(">Q", len(body)) + body)
    for _, data in parts:
        if data:
            _write_all(fd, data)


def _spec(t):
    return {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)}


def _read_into(fd, view, deadline, alive, spin_s=0.0):
    """Fill the writable buffer `view` from fd (see recv for deadline, alive and spin_s)."""
    got, n = 0, len(view)
    busy_until = time.monotonic() + spin_s
    while got < n:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise WireError("timeout")
        if time.monotonic() < busy_until:  # polled: a reader that slept wakes up tens of microseconds late
            if not select.select([fd], [], [], 0)[0]:
                continue
            ready = [fd]
        else:
            ready, _, _ = select.select([fd], [], [], 0.2 if left is None else min(0.2, left))
        if not ready:
            if alive is not None:
                alive()  # raises when the writer died or broke a limit
            continue
        read = os.readv(fd, [view[got:got + (1 << 24)]])
        if not read:
            raise WireError("closed")
        got += read


def _read_exact(fd, n, deadline, alive, spin_s=0.0):
    data = bytearray(n)
    _read_into(fd, memoryview(data), deadline, alive, spin_s)
    return bytes(data)


def _check_bulk(bulk, ranges):
    """ValueError unless every (offset, nbytes) lies inside the shared output memory `bulk` ((fd, size)) this side
    gave and no two overlap: a frame's tensors then never add up to more than that memory (a red team named the
    whole memory 20,000 times in one header, and this side allocated a copy for each: session 16). Asked before
    anything is allocated."""
    if bulk is None:
        raise ValueError("tensors in a shared memory this side did not give")
    end = 0
    for offset, nbytes in sorted(ranges, key=lambda r: (r[0] if type(r[0]) is int else -1)):
        if type(offset) is not int or offset < end or offset + nbytes > bulk[1]:
            raise ValueError(f"offset {offset!r} of a {nbytes}-byte tensor outside the shared memory of {bulk[1]} "
                             "bytes or overlapping another")
        end = offset + nbytes


def _read_bulk(bulk, offset, view):
    """Fill `view` from the shared output memory `bulk` at `offset` (checked by _check_bulk): preadv, so that a worker
    that changed the memory's size cannot fault this process (the size is sealed; a short read is a malformed
    frame)."""
    fd, _ = bulk
    got = 0
    while got < len(view):
        read = os.preadv(fd, [view[got:got + (1 << 30)]], offset + got)
        if not read:
            raise ValueError("the shared memory ended early")
        got += read


def _read_bulk_to(bulk, offset, flat):
    """Fill the uint8 tensor `flat` (on a device) from the shared memory at `offset`, STAGE bytes at a time through
    the staging buffer: no host copy of the whole tensor. Each step's copy ends before the buffer is refilled."""
    kind = flat.device.type
    if kind not in _staging:
        try:
            _staging[kind] = torch.empty(STAGE, dtype=torch.uint8, pin_memory=kind == "cuda")
        except RuntimeError:  # no page-locked memory here: the same copies, slower
            _staging[kind] = torch.empty(STAGE, dtype=torch.uint8)
    stage = _staging[kind]
    view = memoryview(stage.numpy())
    done, n = 0, flat.numel()
    while done < n:
        k = min(stage.numel(), n - done)
        _read_bulk(bulk, offset + done, view[:k])
        flat[done:done + k].copy_(stage[:k])  # not non_blocking: the buffer is refilled next
        done += k


def recv(fd, deadline=None, alive=None, spin_s=0.0, bulk=None, device=None):
    """(header, [tensors]) of the next frame; WireError on end of stream, a malformed frame, or the deadline
    (time.monotonic()) passing; `alive()` is called while waiting and may raise to stop the wait. `spin_s`: poll
    busily for the frame's start this long before sleeping in select (a timed request's reply, whose arrival
    time is a measurement). `bulk`: (fd, size) of the shared output memory the sender may put tensors in.
    `device`: where that memory's tensors of DEVICE_MIN bytes or more are put (the others, and every tensor of a
    frame that carries its bytes, on the host)."""
    (size,) = struct.unpack(">Q", _read_exact(fd, 8, deadline, alive, spin_s))
    if size > MAX_HEADER:
        raise WireError(f"malformed frame (header of {size} bytes)")
    raw_header = _read_exact(fd, size, deadline, alive)
    try:
        header = json.loads(raw_header)
        if not isinstance(header, dict) or not isinstance(header.get("tensors", []), list):
            raise ValueError("the header is not an object with a list of tensors")
        specs, in_bulk = [], header.get("bulk") is True
        for spec in header.get("tensors", []):
            dtype, shape = CARRIED[spec["dtype"]], spec["shape"]
            if not isinstance(shape, list) or any(type(s) is not int or s < 0 for s in shape):
                raise ValueError(f"shape {shape!r} is not a list of non-negative integers")
            numel = 1
            for s in shape:
                numel *= s
            nbytes = numel * torch.empty((), dtype=dtype).element_size()
            if nbytes > MAX_TENSOR:
                raise ValueError(f"a tensor of {nbytes} bytes")
            specs.append((dtype, shape, nbytes, spec.get("offset") if in_bulk else None))
        if in_bulk:
            _check_bulk(bulk, [(offset, nbytes) for _, _, nbytes, offset in specs if nbytes])
        tensors = []
        for dtype, shape, nbytes, offset in specs:
            flat = None
            if in_bulk and device is not None and nbytes >= DEVICE_MIN:
                try:
                    flat = torch.empty(nbytes, dtype=torch.uint8, device=device)
                except torch.OutOfMemoryError:  # the device is full (the worker shares it): the host, as before
                    torch.cuda.empty_cache()
            if flat is None:
                try:  # read straight into the tensor's memory: no list of chunks joined, no second copy
                    flat = torch.empty(nbytes, dtype=torch.uint8)
                except (RuntimeError, MemoryError):  # not a malformed frame: said as what it is
                    raise (NoMemoryHere if in_bulk else ReplyTooLarge)(
                        f"no host memory here for a reply's tensor of {nbytes / 2**30:.2f} GiB") from None
            if flat.device.type != "cpu":
                _read_bulk_to(bulk, offset, flat)
            elif in_bulk and nbytes:
                _read_bulk(bulk, offset, memoryview(flat.numpy()))
            elif nbytes:
                _read_into(fd, memoryview(flat.numpy()), deadline, alive)
            tensors.append(flat.view(dtype).reshape(shape))
    except (ValueError, KeyError, TypeError, RecursionError) as e:  # whatever the bytes are, never a crash here
        raise WireError(f"malformed frame ({type(e).__name__}: {str(e)[:100]})") from None
    return header, tensors
