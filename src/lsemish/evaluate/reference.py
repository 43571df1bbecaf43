"""Trusted side: the problem's reference Model on a trial's inputs, and the same in float64 (the gold), computed in a
process that never imports a candidate. Outputs come back to the CPU so that the device is free for the worker
(bench, which keeps them between a contender's calls), or stay on the device (check: a 6 GB output and its float64
gold crossed to the host and back on every trial, seconds each)."""
from __future__ import annotations

import copy
import random
import sys

import torch

from ..problems import ProblemError
from .inputs import GATED, KERNELBENCH, problem_inputs, refill_tail, seed_other_generators
from .wire import structure


def _line(e):
    """An exception as one line: its type and its message's first line."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300] if text else ''}"


def _as_list(value):
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _random_state(device):
    """What a forward that draws random numbers moves: torch's CPU generator, the device's, Python's random and
    (where the problem imported it) numpy's global generator."""
    state = [bytes(torch.default_generator.get_state().tolist()), random.getstate()]
    if torch.device(device).type == "cuda":
        state.append(bytes(torch.cuda.get_rng_state(torch.device(device)).tolist()))
    np = sys.modules.get("numpy")
    if np is not None:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state.append((kind, keys.tobytes(), pos, has_gauss, cached))
    return state


class Reference:
    """The problem's Model built under `seed` (the parameters KernelBench's protocol gives a candidate built under
    the same seed), and its float64 copy where every parameter is floating point."""

    def __init__(self, problem, seed, device, gold=True, outputs_on_device=False):
        self.problem, self.device, self.gold_note, self.structure = problem, device, None, None
        self.gold_is_reference = False  # the float64 twin failed: the reference itself, widened, is the gold
        self.digests, self.runs = set(), 0  # the outputs' digests, and how many runs made them (constant())
        self.outputs_on_device = outputs_on_device and device != "cpu"
        torch.manual_seed(seed)
        try:
            init = list(problem.get_init_inputs())
        except Exception as e:
            raise ProblemError(f"the problem's get_init_inputs() failed: {_line(e)}") from None
        torch.manual_seed(seed)
        try:
            self.model = problem.Model(*init).to(device)
        except Exception as e:  # the problem's own code (or sizes set that do not fit together): one line
            raise ProblemError(f"the problem's reference Model could not be built: {_line(e)}") from None
        self.gold_model = None
        if gold and all(p.is_floating_point() for p in self.model.parameters()):
            self.gold_model = copy.deepcopy(self.model).double()

    def inputs(self, seed, dist, on_device=False):
        return problem_inputs(self.problem, seed, dist, self.device, on_device, self.model)

    def run(self, seed, dist, gold=True, reuse=None, on_device=False, span="half"):
        """(outputs, gold outputs or None) on the CPU for the trial's inputs (with `reuse`, a refill seed: the
        seed's inputs with `span` of them refilled, as a reuse probe gives them to the candidate;
        `on_device`: inputs.problem_inputs)."""
        named = KERNELBENCH if dist == GATED else dist  # its inputs are get_inputs()'s: named so in a failure
        try:
            args = self.inputs(seed, dist, on_device)
        except Exception as e:
            raise ProblemError(f"the problem's {named} inputs could not be made (get_inputs()): {_line(e)}") from None
        floats = [a for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()]
        if floats and all(a.numel() == 0 for a in floats):  # nothing a candidate computes depends on them (a red
            # team's zeros passed matmul at --set K=0, session 28)
            raise ProblemError(f"the problem's {named} inputs are all empty "
                               f"({', '.join(str(tuple(a.shape)) for a in floats)}): nothing a candidate computes "
                               "depends on them; check it at sizes with inputs")
        if reuse is not None:
            refill_tail(args, reuse, dist, span)
            torch.manual_seed(reuse)  # as the worker does: a model that draws (dropout) draws the same
            seed_other_generators(reuse)
        # whether a gold is made (a float64 twin's or, gold_is_reference, the reference's own), so whether it can draw
        watch = gold and (self.gold_model is not None or self.gold_is_reference)
        with torch.no_grad():
            before = _random_state(self.device) if watch else None
            try:
                out = self.model(*args)
            except torch.OutOfMemoryError as e:  # not the problem's fault: the device is shared with a worker
                raise ProblemError(f"out of memory computing the reference on its {named} inputs, beside the "
                                   f"candidate's worker: {_line(e)}") from None
            except Exception as e:
                raise ProblemError(f"the problem's reference Model failed on its own {named} inputs: {_line(e)}") \
                    from None
            self.structure = structure(out)
            for i, t in enumerate(_as_list(out)):
                if not isinstance(t, torch.Tensor):  # never compared: a wrong candidate passed, an honest one failed
                    # (a red team's python floats, None and nested tuples, session 27)
                    raise ProblemError(f"the problem's reference Model returns a {type(t).__name__} as output {i}: "
                                       "only tensor outputs can be compared")
            if all(t.numel() == 0 for t in _as_list(out)):  # nothing to compare: any answer of that shape passed
                # (a red team's --set batch_size=0, session 28)
                raise ProblemError(f"the problem's reference Model returns only empty outputs on its {named} inputs "
                                   f"({', '.join(str(tuple(t.shape)) for t in _as_list(out))}): nothing to compare; "
                                   "check it at sizes with outputs")
            self.runs += 1
            self.digests.add(tuple(_digest(t) for t in _as_list(out)))
            expected = [self._kept(t) for t in _as_list(out)]
            del out
            golds = None
            if watch and (self.gold_is_reference or _random_state(self.device) != before):
                # The reference drew random numbers (dropout): its float64 twin would draw others (the generators
                # moved on; a GPU draws differently by dtype), and a gold 0.2-0.4 off the reference made the float64
                # check's bound (4x the reference's own error) pass anything allclose passes (red team, session 18).
                # The reference itself, widened, is the gold: its own error is then 0 and the bound the tolerance.
                if not self.gold_is_reference:
                    self.gold_note = ("the reference draws random numbers: the float64 check compares against the "
                                      "reference itself (a float64 twin would draw others)")
                golds = _widened(expected)
            elif watch:
                wide = [a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
                try:
                    golds = [self._kept(t) for t in _as_list(self.gold_model(*wide))]
                except torch.OutOfMemoryError as e:  # the evaluator's limit: never a quietly weaker check from then on
                    raise ProblemError(f"out of memory computing the float64 reference on its {named} inputs, "
                                       f"beside the candidate's worker: {_line(e)}") from None
                except Exception as e:  # e.g. a Model that makes float32 tensors in forward
                    # Judged against the reference itself, widened, from now on, as where it draws random numbers:
                    # without a gold, allclose alone passed a softmax with its small probabilities zeroed again (a
                    # red team's, session 27).
                    self.gold_model, self.gold_is_reference, golds = None, True, _widened(expected)
                    self.gold_note = (f"the reference failed in float64 ({_line(e)}): the float64 check compares "
                                      "against the reference itself")
                del wide
        del args
        if self.device == "cuda":
            torch.cuda.empty_cache()
        return expected, golds

    def constant(self):
        """Whether every run so far (two at least) gave the same outputs: at these sizes the outputs do not depend on
        the inputs (clamp bounds set equal, a softmax over one column), so a constant answer passes."""
        return len(self.digests) == 1 and self.runs > 1

    def _kept(self, value):
        """An output (a tensor: run refuses others) as kept: a copy of its own (an output may be a view of the model's
        parameters or inputs), on the CPU or on the device."""
        value = value.detach()
        return value.clone() if self.outputs_on_device else value.cpu()


def _digest(t):
    """What tells one output from another without a copy of it: its shape, its sum (accumulated in 64 bits) and up to
    1024 of its values, evenly spaced."""
    t = torch.view_as_real(t) if t.is_complex() else t
    flat = t.reshape(-1)
    sample = flat[::max(1, flat.numel() // 1024)][:1024]
    total = flat.sum(dtype=torch.float64) if t.is_floating_point() else flat.sum()
    return tuple(t.shape), float(total), tuple(sample.double().tolist())


def _widened(outputs):
    """The reference's own outputs (tensors) as a gold: floating-point ones in float64, others as they are."""
    return [t.double() if t.is_floating_point() else t for t in outputs]
