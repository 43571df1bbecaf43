"""The untrusted side: one candidate's ModelNew in a process of its own, which holds nothing the verdict depends on.

Started by `sandbox.Worker` as `python -m lsemish.evaluate.worker --requests FD --replies FD --scratch DIR`. Before it
imports any candidate code it confines its own file writes to DIR (Landlock, see landlock.py) and takes references to
the functions it measures and checks with (synchronize, CUDA events, torch.equal); then it serves requests (wire.py
frames) until told to exit: `init` (the problem, the seccomp filter, a stand-in model whose timed calls calibrate
the protocol's cost in this process), then `load` (the candidate's code, for the first time). It builds inputs from
the seeds it is sent (inputs.py), calls the model, and sends back
what the trusted side needs to judge: the outputs as bytes, and what it saw (an input changed, a tensor subclass, a
thread left running, a replaced torch function). The trusted side compares the outputs with its own reference and
checks every time against its own clock: whatever the candidate does in this process can make it fail, never pass.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback

# The functions whose replacement is reported: what comparisons, timers and references are computed with.
WATCHED = ("torch", "torch.nn.functional", "torch.Tensor", "torch.cuda", "torch.cuda.Event", "torch.cuda.Stream",
           "torch.testing", "torch.linalg", "torch.nn.Module", "time", "triton.testing")


def _watched(obj, name, value):
    """Public functions and classes (and a class's special methods): what a comparison, timer or reference calls.
    Module state (flags, counters, caches) changes legitimately and is not watched."""
    if not callable(value):
        return False
    if isinstance(obj, type):
        return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))
    return not name.startswith("_")


class Integrity:
    """A snapshot of the watched namespaces and of the worker's own Server class; `replaced()` names the first entry
    that is no longer the same object, a Server method shadowed on the instance, or a profile or trace hook (a way
    to run code inside the worker's requests without replacing anything)."""

    def __init__(self, server=None):
        self.snapshot, self.server = {}, server
        torch_c = getattr(sys.modules.get("torch"), "_C", None)
        # How many torch function and dispatch modes are active: a mode entered by the candidate sees every torch
        # call of the worker's own (the inputs it makes for queued calls: a red team answered them there, session 12)
        self.mode_stacks = [f for f in (getattr(torch_c, "_len_torch_function_stack", None),
                                        getattr(torch_c, "_len_torch_dispatch_stack", None)) if f is not None]
        targets = [(label, _resolve(label)) for label in WATCHED]
        if server is not None:
            targets.append(("the worker's Server", type(server)))
        for label, obj in targets:
            if obj is not None:
                self.snapshot[label] = (obj, {k: v for k, v in vars(obj).items() if _watched(obj, k, v)
                                              or (isinstance(obj, type) and callable(v))})

    def replaced(self):
        for label, (obj, entries) in self.snapshot.items():
            now = vars(obj)
            for name, value in entries.items():
                if now.get(name, _MISSING) is not value:
                    return f"{label}.{name}"
            if isinstance(obj, type):  # a new entry that shadows a base class's (a C method of torch.Tensor's)
                for name in now.keys() - entries.keys():
                    if _watched(obj, name, now[name]) and any(name in vars(b) for b in obj.__mro__[1:]):
                        return f"{label}.{name}"
        if self.server is not None:
            cls = type(self.server)
            for name, value in vars(self.server).items():
                if callable(value) and hasattr(cls, name):
                    return f"the worker's Server.{name}"
        if sys.getprofile() is not None or sys.gettrace() is not None:
            return "sys.setprofile / sys.settrace (a hook inside the worker's own requests)"
        if any(f() for f in self.mode_stacks):
            return "torch's function dispatch with a mode left active (it runs inside the worker's own requests)"
        return None


_MISSING = object()


def compiles(path):
    """Whether a candidate's code (its names, not its comments or strings) names compile or dynamo: its worker then
    makes torch.compile's own changes to torch before the snapshot (_as_compile_leaves_torch; a second of start-up
    that other workers are spared: lsemish's own deliverable names torch.compile only in comments). A candidate that
    hides the name only loses that: its compile's changes are then reported as replacements."""
    import tokenize
    try:
        with open(path, "rb") as fh:
            names = {t.string for t in tokenize.tokenize(fh.readline) if t.type == tokenize.NAME}
    except (OSError, SyntaxError, tokenize.TokenError):
        return False
    return bool(names & {"compile", "dynamo", "_dynamo"})


def _as_compile_leaves_torch():
    """What torch.compile changes in what the worker watches, made before the snapshot: importing torch._dynamo
    wraps torch.manual_seed, and its first compile wraps nn.Module.__init__ and __setstate__ (an honest torch.compile
    candidate failed as "replaced torch.manual_seed": a red team's, session 16). Where it cannot be made, the
    changes are reported as replacements later. Inductor's progress bars start tqdm's monitor thread on the first
    compile, which the thread check reports as the candidate's (an H200, session 17): tqdm is told not to start it
    (its compile processes: TORCHINDUCTOR_COMPILE_THREADS=1 in the worker's environment, sandbox.scratch)."""
    try:
        import torch._dynamo  # noqa: F401
        from torch._dynamo.mutation_guard import install_generation_tagging_init
        install_generation_tagging_init()
    except Exception:
        pass
    try:
        import tqdm
        tqdm.tqdm.monitor_interval = 0
    except Exception:
        pass


def _resolve(label):
    parts = label.split(".")
    obj = sys.modules.get(parts[0])
    for p in parts[1:]:
        obj = getattr(obj, p, None) if obj is not None else None
    return obj


def _describe(exc, path):
    """'Type: message (file:line: source)' pointing at the deepest frame in the candidate file, if any."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if path and os.path.abspath(f.filename) == os.path.abspath(path)]
    frame = (mine or frames or [None])[-1]
    text = f"{type(exc).__name__}: {str(exc).strip() or '(no message)'}".splitlines()[0][:300]
    if frame is not None:
        text += f" ({os.path.basename(frame.filename)}:{frame.lineno}: {(frame.line or '').strip()[:120]})"
    return text


class Server:
    def __init__(self, requests, replies, landlock_note, bulk=None):
        import torch

        from . import commit, inputs, memory, wire
        self.torch, self.wire, self.inputs, self.commit, self.memory = torch, wire, inputs, commit, memory
        self.strided = torch.strided  # taken before any candidate code runs, as the functions below are
        self.requests, self.replies, self.bulk = requests, replies, bulk
        self.landlock_note = landlock_note
        # Taken before any candidate code runs; a candidate that replaces the originals does not change these.
        self.sync = torch.cuda.synchronize
        self.Event = torch.cuda.Event
        self.record, self.elapsed = torch.cuda.Event.record, torch.cuda.Event.elapsed_time
        self.equal, self.clone, self.Tensor = torch.equal, torch.Tensor.clone, torch.Tensor
        self.ne, self.any, self.cat, self.zeros = torch.ne, torch.Tensor.any, torch.cat, torch.zeros
        self.view_as_real, self.tensor_view = torch.view_as_real, torch.Tensor.view
        self.int_of = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
        self.perf = time.perf_counter
        self.integrity = Integrity(self)
        self.model = self.problem = self.candidate = self.edge_model = None
        self.kept, self.changed, self.calls = [], [], 0  # the block's outputs; its inputs' checks; calls so far
        self.trial_kept = []  # earlier trials' outputs, newest last (op_trial)
        self.flush = None
        self.collect_in_work = False  # serve sets it per request

    # --- helpers -------------------------------------------------------------------------------------------------
    def reply(self, header, tensors=()):
        if self.replies is None:  # profile mode: no channel, the last reply is kept
            self.last_reply = header
            return
        self.wire.send(self.replies, header, tensors, self.bulk)

    def synchronize(self):
        if self.device == "cuda":
            self.sync()

    def bits(self, t):
        """t's values as integers of its width, to compare inputs before and after a call bit for bit: NaN is not
        equal to itself, so inputs holding NaN read as modified (an honest candidate on a problem's NaN edge
        inputs; a red team's, session 28)."""
        if t.is_complex():
            t = self.view_as_real(t)
        return self.tensor_view(t, self.int_of[t.element_size()]) if t.is_floating_point() else t

    def make_inputs(self, seed, dist, on_device=False):
        if dist == self.inputs.EDGES and self.edge_model is None:
            # the problem's Model as the reference builds it (its edge inputs are made from its weights), built on
            # the first request for them only: bench and profile never ask
            self.inputs.seed_torch(self.init_seed)
            self.edge_model = self.problem.Model(*self.init).to(self.device)
        return self.inputs.problem_inputs(self.problem, seed, dist, self.device, on_device, self.edge_model)

    def call(self, args):
        with self.torch.no_grad():
            return self.model(*args)

    def examine(self, args, before, out, threads_before, integrity=True):
        """Why this call's result cannot count, or None; and the output tensors as a list."""
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        for i, t in enumerate(outs):
            if not isinstance(t, self.Tensor):
                return f"output {i} is a {type(t).__name__}, not a tensor", outs
            if type(t) is not self.Tensor:
                return f"output {i} is a {type(t).__name__} (a torch.Tensor subclass), not a plain tensor", outs
            if t.layout != self.strided:  # sparse, mkldnn: no plain memory to compare (red team, session 18)
                return f"output {i} is a {str(t.layout).removeprefix('torch.')} tensor, not a plain strided one", outs
        for i, (a, b) in enumerate(zip(args, before)):
            if b is not None and (a.shape != b.shape or a.dtype != b.dtype
                                  or not self.equal(self.bits(a), self.bits(b))):
                return f"modified input {i}", outs
        if self.candidate is not None:
            new = [t for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()]
            if new:
                return f"left a thread running after its call returned ({new[0].name})", outs
        replaced = integrity and self.integrity.replaced()
        if replaced:
            return f"replaced {replaced} (the evaluator's own functions are not the candidate's to change)", outs
        return None, outs

    def poison(self, nbytes):
        """Leave NaN in the allocator's free memory, as much as the outputs need: never-written outputs read NaN.
        False where the device has no room for it (a correct candidate is not failed for the evaluator's own
        allocation: issue 26); the outputs' checks against the reference stand either way."""
        if self.device == "cuda" and nbytes:
            try:
                self.torch.full((nbytes // 4 + 1,), float("nan"), device="cuda")
            except self.torch.OutOfMemoryError:
                return False
        return True

    def flush_l2(self):
        if self.device == "cuda":
            if self.flush is None:
                self.flush = self.torch.empty(self.inputs.L2_FLUSH_BYTES // 4, device="cuda")
            self.flush.fill_(1.0)

    def timed(self, work):
        """(work's result, CUDA-event ms, this process's wall ms): events around `work` on the current stream, then a
        synchronize of the whole device; without a GPU both figures are the wall clock. In a timed call's request
        the garbage collector runs only inside `work` (see serve): a collection of the candidate's garbage is its
        own time, never the protocol's."""
        import gc
        collecting = not gc.isenabled() and self.collect_in_work
        if self.device != "cuda":
            t0 = self.perf()
            result = self.collected(work, collecting)
            ms = self.launched_ms = (self.perf() - t0) * 1e3
            return result, ms, ms
        start, end = self.Event(enable_timing=True), self.Event(enable_timing=True)
        t0 = self.perf()
        self.record(start)
        result = self.collected(work, collecting)
        self.launched_ms = (self.perf() - t0) * 1e3  # until `work` returned: its host launch, for the reader
        self.record(end)
        self.sync()
        host = (self.perf() - t0) * 1e3
        return result, self.elapsed(start, end), host

    @staticmethod
    def collected(work, collecting):
        """work(), with the garbage collector on during it if `collecting` (and off again after)."""
        import gc
        if not collecting:
            return work()
        gc.enable()
        try:
            return work()
        finally:
            gc.disable()

    def guarded_call(self, args):
        """(outputs, reason, how the result is packed: wire.structure): one call of the model with the checks around
        it; reason None when it counts."""
        before = [self.clone(a) if isinstance(a, self.Tensor) else None for a in args]
        threads = {t.ident for t in threading.enumerate()}
        out = self.call(args)
        self.synchronize()
        reason, outs = self.examine(args, before, out, threads)
        return outs, reason, self.wire.structure(out)

    # --- requests ------------------------------------------------------------------------------------------------
    def op_init(self, req):
        torch = self.torch
        from ..problems import load_problem
        self.device = req["device"]
        if self.device == "cuda" and req.get("gpu_memory_fraction"):
            torch.cuda.set_per_process_memory_fraction(float(req["gpu_memory_fraction"]))
        self.problem = load_problem(req["problem"], req.get("sets"))
        self.candidate = req.get("candidate")
        self.inputs.seed_torch(req["seed"])
        init = list(self.problem.get_init_inputs())
        from .seccomp import drop_capabilities, refuse_metadata_and_admin_calls
        # Before the candidate's first line runs, and before the calibration (bench.calibrate), so that the protocol's
        # own cost is measured under the filter the timed calls run under; the reference's worker too. Profiling
        # keeps the capabilities: Nsight Compute's counters need them where the driver restricts profiling to
        # administrators.
        self.caps_note = None if req.get("keep_capabilities") else drop_capabilities()
        self.seccomp_note = refuse_metadata_and_admin_calls()
        self.init_seed, self.init, self.load_req = req["seed"], init, req
        self.stand_in_outputs = self._output_specs(req.get("stand_in_outputs"))
        self.model = self.stand_in  # until op_load: timed calls of it measure the protocol's own cost (calibration)
        self.reply({"ok": True, "seccomp": self.seccomp_note})

    def _output_specs(self, specs):
        """[(shape, dtype) or None] from bench's [[shape, dtype name] or None], or None where there are none."""
        if not specs:
            return None
        return [None if s is None else (tuple(s[0]), getattr(self.torch, s[1])) for s in specs]

    def stand_in(self, *args):
        """The model before the candidate's is loaded: the cheapest call on the inputs (one small kernel per output).
        Timed calls of it, in this process before any candidate code has run, measure what the protocol costs in
        this very process (bench's calibration): nothing the candidate does later can change that figure. Its
        outputs have the reference's shapes where bench gave them (op_init), so that their commitment costs what a
        real model's does (a third of the queued calls' protocol for problem 22 was missing: session 14)."""
        first = next((a for a in args if isinstance(a, self.Tensor) and a.numel()), None)
        value = first.reshape(-1)[:1] * 1 if first is not None else self.torch.zeros(1, device=self.device)
        if self.stand_in_outputs is None:
            return value
        outs = [None if s is None else self.torch.empty(s[0], dtype=s[1], device=self.device).copy_(
            value.reshape(()).to(s[1])) for s in self.stand_in_outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def op_load(self, req):
        """The candidate's ModelNew (or, without a candidate, the problem's Model) built as op_init was told."""
        torch, req = self.torch, self.load_req
        init = self.init
        if req.get("compile") or (self.candidate is not None and compiles(self.candidate)):
            _as_compile_leaves_torch()
            self.integrity = Integrity(self)  # taken again, still before any of the candidate's code has run
        if self.candidate is None:
            cls = self.problem.Model
        else:
            from ..problems import ProblemError, load_module
            try:
                module = load_module(self.candidate, "candidate")
            except ProblemError as e:
                return self.reply({"error": str(e), "setup": True})
            cls = getattr(module, "ModelNew", None)
            if not isinstance(cls, type):
                return self.reply({"error": f"candidate {self.candidate} defines no class ModelNew", "setup": True})
        kwargs = {}
        import inspect
        try:
            params = inspect.signature(cls.__init__).parameters
        except (TypeError, ValueError):
            params = {}
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        for name, value in (req.get("model_kwargs") or {}).items():
            if name in params or takes_any:
                kwargs[name] = value
        self.inputs.seed_torch(req["seed"])
        try:
            model = cls(*init, **kwargs)
            self.model = model.to(self.device) if hasattr(model, "to") else model
        except Exception as e:
            shown = ", ".join(map(repr, init))
            return self.reply({"error": f"ModelNew({shown}) failed, the reference Model's constructor arguments "
                                        f"(get_init_inputs()): {_describe(e, self.candidate)}", "setup": True})
        if req.get("compile"):
            self.model = torch.compile(self.model)
        replaced = self.integrity.replaced()
        if replaced:
            return self.reply({"error": f"replaced {replaced} (the evaluator's own functions are not the "
                                        "candidate's to change)", "setup": True, "cheat": True})
        self.reply({"ok": True, "kwargs": sorted(kwargs), "seccomp": self.seccomp_note})

    def op_trial(self, req):
        """One correctness trial: fresh inputs from the seed (or, for the reuse probe, the last trial's input tensors
        with their second half refilled), the call, the checks, the outputs back."""
        if req.get("reuse"):
            span = req.get("span", "half")
            if span not in self.inputs.REUSE_SPANS:
                return self.reply({"error": f"no reuse span {span!r}"})
            args = self.inputs.refill_tail(self.trial_args, req["reuse"], req["dist"], span)
            # the random state as the reference's for this probe (a trial's is the seed's, then its inputs' draws):
            # the problem's own Model with dropout failed both probes as "stale" (a red team's, session 14)
            self.inputs.seed_torch(req["reuse"])
            self.inputs.seed_other_generators(req["reuse"])
        else:
            args = self.make_inputs(req["seed"], req["dist"], on_device=bool(req.get("on_device")))
        self.trial_args = args
        poisoned = self.poison(req.get("poison_bytes", 0))
        outs, reason, structure = self.guarded_call(args)
        if reason:
            return self.reply({"rejected": reason, "cheat": True})
        # earlier trials' outputs are held until now, so that no allocation could reuse their memory: an output in
        # the same memory is the candidate's own buffer, which a later call overwrites under its caller (a red team's
        # persistent output, session 12; two or three buffers taken in turn, session 27). Every earlier trial's are
        # held while they take at most TRIAL_KEPT_BYTES, the previous trial's always.
        kept = self.trial_kept
        keep, reason = self.owned(outs, args, kept, lambda k: "its previous call" if k == len(kept) - 1
                                  else f"a call {len(kept) - k} calls before")
        if reason:
            return self.reply({"rejected": reason, "cheat": True})
        self.trial_kept = self.held(kept + [keep])
        # its peak memory, as the worker reports it: a figure for the reader, not for a verdict
        self.reply({"ok": True, "peak_bytes": self.memory.peak_bytes(self.device), "structure": structure,
                    "poisoned": poisoned}, outs)

    def settle(self):
        """The checks of the timed calls since the last settle that cost time or a synchronize (each call's inputs
        unchanged, no torch function replaced), made after their replies so that they do not count in their wall
        clock; the reason they cannot count, or None."""
        changed, self.changed = self.changed, []
        if changed:
            flags = self.commit.read_back([flag for _, _, flag in changed], self.cat)
            for (call, i, _), bad in zip(changed, flags):
                if bad:
                    return f"modified input {i} during timed call {call}"
        replaced = self.integrity.replaced()
        return replaced and f"replaced {replaced} (the evaluator's own functions are not the candidate's to change)"

    def op_settle(self, req):
        """Between blocks of timed calls, untimed: their checks (settle), then the garbage collected and what
        survives frozen (moved out of the collector's view), so that the timed requests that follow start with
        nothing for the collector to do and a collection walks only the objects made since. A full collection over
        all of torch's objects right before a call churns the host's caches: the call's events read 1.55x
        (perf-notes, session 10). The kept outputs are dropped: a block's commitment names only its own calls."""
        import gc
        reason = self.settle()
        self.kept, self.calls = [], 0
        gc.collect()
        gc.freeze()
        self.reply({"rejected": reason, "cheat": True} if reason else {"ok": True})

    def into_buffers(self, fresh):
        """The fresh values in the same input tensors as the last timed call's (as KernelBench calls a model: the
        same tensors every time, here with new values): a candidate's per-address caches (launch plans, tensor
        maps) behave as they do under KernelBench, while an answer remembered by address is stale."""
        old = getattr(self, "buffers", None)
        same = old is not None and len(old) == len(fresh) and all(
            (isinstance(a, self.Tensor) and isinstance(b, self.Tensor) and a.shape == b.shape and a.dtype == b.dtype
             and a.stride() == b.stride()) or (not isinstance(a, self.Tensor) and not isinstance(b, self.Tensor))
            for a, b in zip(old, fresh))
        if not same:
            self.buffers = fresh
            return fresh
        for a, b in zip(old, fresh):
            if isinstance(a, self.Tensor):
                a.copy_(b)
        self.buffers = [a if isinstance(a, self.Tensor) else b for a, b in zip(old, fresh)]
        return self.buffers

    def op_call(self, req):
        """One timed call as KernelBench times it, on inputs made for it (in the same input tensors as
        the last timed call): the L2 flush queued, events around the call on the current stream, then a synchronize
        of the whole device; also this process's wall clock over the same span. Its outputs are kept for the
        block's commitment. Only cheap checks follow before the reply (outputs are plain tensors, no thread left
        running, inputs of the same shapes; whether their values changed is computed on the device without a
        synchronize); the rest wait for `settle`."""
        # Inputs made now from the seed (never before: a candidate could find inputs made ahead in this process's
        # memory and answer them in advance), on the device (microseconds of host work right before the call, as in
        # KernelBench's loop), copies of them for the check after the call.
        t0 = self.perf()
        fresh = self.make_inputs(req["seed"], self.inputs.KERNELBENCH, on_device=True)
        ta = self.perf()
        before = [self.clone(a) if isinstance(a, self.Tensor) else None for a in fresh]
        self.synchronize()
        t1 = self.perf()
        args = self.into_buffers(fresh)
        threads = {t.ident for t in threading.enumerate()}
        self.flush_l2()  # as KernelBench: the flush queued just before the start event, no synchronize between
        t2 = self.perf()
        out, events, host = self.timed(lambda: self.call(args))
        t3 = self.perf()
        call = req.get("index", self.calls)
        self.calls += 1
        reason, outs = self.examine([], [], out, threads, integrity=False)
        for i, (a, b) in enumerate(zip(args, before)):
            if b is not None and not reason:
                if a.shape != b.shape or a.dtype != b.dtype:
                    reason = f"modified input {i} during timed call {call}"
                else:
                    self.changed.append((call, i, self.any(self.ne(self.bits(a), self.bits(b))) if a.numel()
                                         else self.zeros((), dtype=self.torch.bool, device=a.device)))
        if not reason:
            outs, reason = self.owned(outs, args)
        if reason:
            return self.reply({"rejected": reason, "cheat": True})
        self.kept.append(outs)
        # where the request's own time goes (ms): inputs made, copied for the checks (with a synchronize), the
        # flush queued, the timed span, the checks after it
        steps = [(b - a) * 1e3 for a, b in zip((t0, ta, t1, t2, t3), (ta, t1, t2, t3, self.perf()))]
        self.reply({"events_ms": events, "host_ms": host, "steps_ms": steps, "launch_ms": self.launched_ms})

    def op_ping(self, req):
        """Nothing: its round trip is the channel's own cost."""
        self.reply({"ok": True})

    def held(self, trials):
        """The newest of `trials` (lists of outputs, oldest first) whose tensors take TRIAL_KEPT_BYTES at most
        together; the newest always."""
        total, start = 0, len(trials)
        while start > 0:
            size = sum(t.untyped_storage().nbytes() for t in trials[start - 1] if isinstance(t, self.Tensor))
            if start < len(trials) and total + size > TRIAL_KEPT_BYTES:
                break
            total, start = total + size, start - 1
        return trials[start:]

    def owned(self, outs, args, kept=None, earlier=lambda k: f"the block's call {k}"):
        """(the outputs to keep for the block's commitment, or None; why they cannot be kept, or None). An output
        that shares memory with an input (which the next call's values overwrite: a model that returns a view of its
        input) or with the model's own parameters and buffers is kept as a copy of its values now; one that shares
        memory with a kept output of the block (a buffer every call writes, so that a later call overwrites an earlier
        call's answer) cannot count. `kept`: other outputs than the block's (check's previous trial), `earlier` naming
        the k-th of them."""
        def storage(t):
            return t.untyped_storage().data_ptr() if isinstance(t, self.Tensor) and t.numel() else None
        mine = {storage(t) for t in args} - {None}
        if hasattr(self.model, "parameters") and hasattr(self.model, "buffers"):
            mine |= {storage(t) for t in list(self.model.parameters()) + list(self.model.buffers())} - {None}
        for k, earlier_outs in enumerate(self.kept if kept is None else kept):
            theirs = {storage(u) for u in earlier_outs} - {None} - mine
            if any(storage(t) in theirs for t in outs):
                return None, f"returned the same output memory as {earlier(k)} (a stale answer, or a " \
                             "buffer that a later call overwrites)"
        return [self.clone(t) if storage(t) in mine else t for t in outs], None

    def op_commit(self, req):
        """Digests (commit.digests_sent) and shapes of the kept outputs (the block's timed calls, or the queued calls), under a key sent
        only now: the outputs must exist, whole, before this request, whose time the trusted side counts with the
        calls'; with `outputs`, the outputs themselves too, every call's in order (small ones: every timed call is
        then compared in full)."""
        key = tuple(req["key"])
        sums, counts = self.commit.digests_sent(self.kept, key)  # the sums as the first tensor, in binary
        header = {"digest_counts": counts,
                  "shapes": [[list(t.shape) if isinstance(t, self.Tensor) else None for t in outs]
                             for outs in self.kept]}
        self.reply(header, [sums] + ([t for outs in self.kept for t in outs] if req.get("outputs") else []))

    def op_fetch(self, req):
        """The outputs of one kept call (timed or queued) as they are now."""
        index = req.get("index")
        if type(index) is not int or not 0 <= index < len(self.kept):
            return self.reply({"error": f"no kept call {index!r}"})
        self.reply({"ok": True}, self.kept[index])

    def op_queued(self, req):
        """GPU time of calls queued back to back: fresh inputs for each (made before), events around them all. With
        "flushed": the L2 flush queued before each call, as before a timed call (the work each call does behind a
        flush: bench's work floor)."""
        started = self.perf()
        reason = self.settle()
        if reason:
            return self.reply({"rejected": reason, "cheat": True})
        sets = [self.make_inputs(s, self.inputs.KERNELBENCH, on_device=True) for s in req["seeds"]]
        self.flush_l2()
        self.synchronize()
        setup = (self.perf() - started) * 1e3  # its checks, inputs and flush: for the reader (bench's per_round)
        flushed = req.get("flushed") is True

        def calls():
            outs = []
            for a in sets:
                if flushed:
                    self.flush_l2()
                outs.append(self.call(a))
            return outs
        outs, events, host = self.timed(calls)
        self.kept = [list(o) if isinstance(o, (tuple, list)) else [o] for o in outs]
        pointers = [t.data_ptr() for o in self.kept for t in o if isinstance(t, self.Tensor) and t.numel()]
        if len(set(pointers)) != len(pointers):
            return self.reply({"rejected": "returned the same output memory from different calls (a later call "
                                           "overwrites an earlier call's result)", "cheat": True})
        reason, _ = self.examine([], [], outs[-1], {t.ident for t in threading.enumerate()})
        if reason:
            return self.reply({"rejected": reason, "cheat": True})
        self.reply({"events_ms": events, "host_ms": host, "calls": len(sets), "setup_ms": setup})

    def spin(self, seconds=0.05):
        """Wait for the next request busily for a moment before blocking, as a timing loop in one process would:
        a core that slept between calls launches the next call's kernels slower."""
        import select
        deadline = self.perf() + seconds
        while self.perf() < deadline:
            if select.select([self.requests], [], [], 0)[0]:
                return

    def serve(self):
        import gc
        self.device = "cpu"
        self.reply({"ready": True, "pid": os.getpid(), "landlock": self.landlock_note})
        while True:
            self.spin()
            try:
                req, _ = self.wire.recv(self.requests)
            except self.wire.WireError:
                return 0
            op = req.get("op")
            if op == "exit":
                return 0
            handler = getattr(self, f"op_{op}", None)
            if handler is None:
                self.reply({"error": f"unknown request {op!r}"})
                continue
            # A timed call's request runs with the garbage collector off but for the call itself (timed): otherwise a
            # collection of the call's garbage could fall in the request's own work, which the trusted side counts
            # as the protocol's cost (an interpreted candidate's did, 2.4 ms of a 30 ms request, on a CI machine).
            self.collect_in_work = op == "call"
            if op == "call":
                gc.disable()
            else:
                gc.enable()
            try:
                handler(req)
            except BaseException as e:  # the candidate raised (SystemExit and KeyboardInterrupt too): say so
                fatal = "CUDA" in str(e) or type(e).__name__ in ("AcceleratorError", "OutOfMemoryError")
                if isinstance(e, (SystemExit, KeyboardInterrupt)):
                    text = f"the candidate raised {type(e).__name__}({e.args[0] if e.args else ''}) during its call"
                elif isinstance(e, self.wire.WireError):  # the evaluator's limit, not the candidate's fault
                    text = f"the evaluator cannot carry this result back: {e}"
                else:
                    text = f"candidate raised {_describe(e, self.candidate)}"
                try:
                    self.reply({"error": text, "fatal": fatal})
                except Exception:
                    return 3
                if fatal:
                    return 4  # a CUDA fault leaves the context unusable: this worker is not reused


FILE_LIMIT = 4 << 30  # bytes: the largest file a worker may write (its Triton cache holds kilobytes)
TRIAL_KEPT_BYTES = 256 << 20  # bytes: earlier trials' outputs a check holds (Server.held), the previous one's always


def _die_with_parent():
    """SIGKILL this worker when the process that started it dies, however it dies."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG


def profile_once(server, spec):
    """The program Nsight Compute profiles: build the model, one warm-up call, one call between cudaProfilerStart
    and Stop (so that only the model's kernels are profiled, not the inputs' creation)."""
    torch = server.torch
    # The CUDA driver first: Nsight Compute's injection, loaded with it, connects to the ncu that started this
    # process through a new socket, which op_init's system-call filter refuses (every new socket: seccomp.py); with
    # the filter first, ncu waited for a connection that never came (session 14: no result in 120 s on an H200).
    torch.cuda.init()
    torch.empty(1, device="cuda")
    server.op_init(dict(spec, device="cuda", keep_capabilities=True))
    server.op_load({})
    if "error" in server.last_reply:
        print(f"profile: {server.last_reply['error']}", file=sys.stderr)
        return 1
    args = server.make_inputs(spec["seed"], server.inputs.KERNELBENCH)
    server.call(args)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    server.call(args)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()
    return 0


def _shared(fd):
    """The trusted side's shared output memory, mapped for writing (None: replies carry their bytes)."""
    if fd is None:
        return None
    import mmap
    return mmap.mmap(fd, os.fstat(fd).st_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lsemish.evaluate.worker")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--replies", type=int)
    parser.add_argument("--scratch", required=True)
    parser.add_argument("--profile", help="JSON: run once for Nsight Compute instead of serving requests")
    parser.add_argument("--writable", action="append", default=[], help="another folder it may write (a shared "
                        "Triton cache)")
    parser.add_argument("--cpus", help="the CPUs to run on, comma-separated (a timed worker: see sandbox.timing_cpus)")
    parser.add_argument("--outputs", type=int, help="the shared memory its replies' tensors go in (wire.py)")
    args = parser.parse_args(argv)
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    import resource
    from .landlock import restrict_writes
    _die_with_parent()
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))  # no file larger (a sparse one neither)
    note = restrict_writes([args.scratch] + args.writable)  # before the first line of candidate code can run
    os.chdir(args.scratch)
    try:
        import triton  # noqa: F401  (imported before the snapshot, so that its own changes are not reported)
        import triton.testing  # noqa: F401
    except ImportError:
        pass
    server = Server(args.requests, args.replies, note, _shared(args.outputs))
    if args.profile:
        import json
        code = profile_once(server, json.loads(args.profile))
    else:
        code = server.serve()
    sys.stdout.flush()
    os._exit(code)  # no interpreter teardown: a candidate's atexit hooks and finalizers do not run


if __name__ == "__main__":
    main()
