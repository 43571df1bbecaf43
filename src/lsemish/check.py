"""KernelBench's correctness protocol for a candidate ModelNew, plus errors against a float64 reference."""
from __future__ import annotations

import importlib.util
import inspect
import os
import random
import traceback

import torch

from .inputs import DISTRIBUTIONS, make_x
from .problem import Model, reference_forward

TOLERANCE = {"tf32": 1e-4, "fp32": 1e-4, "bf16": 1e-2}


class CandidateError(Exception):
    """A candidate that cannot be loaded, built or run here; the message is one line naming the file and cause."""


def _load_module(path, role, required):
    """The module in file `path` (a candidate or a problem), with a one-line CandidateError for every way it can be
    unusable: not Python, a syntax error, its own code failing at import, a required name missing."""
    spec = importlib.util.spec_from_file_location(f"lsemish_{role}", path)
    if spec is None:
        raise CandidateError(f"cannot load {role} {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise CandidateError(f"{role} {path} has a syntax error at line {e.lineno}: {e.msg}") from None
    except Exception as e:  # the file's own import-time code failed: report it as the file's fault
        raise CandidateError(f"{role} {path} failed to import: {_describe(e, path)}") from None
    missing = [name for name in required if not hasattr(module, name)]
    if missing:
        raise CandidateError(f"{role} {path} defines no {', '.join(missing)}")
    return module


def load_candidate(path=None):
    """The module that defines ModelNew: a candidate file, or lsemish's own deliverable."""
    if path is None:
        from . import model_new
        return model_new
    module = _load_module(path, "candidate", ())
    if not isinstance(getattr(module, "ModelNew", None), type):
        raise CandidateError(f"candidate {path} defines no class ModelNew")
    return module


def build_model(module, init_inputs, precision, seed):
    """ModelNew under `seed`, passing `precision` only where its constructor takes it."""
    torch.manual_seed(seed)
    takes_precision = "precision" in inspect.signature(module.ModelNew.__init__).parameters
    try:
        if takes_precision:
            return module.ModelNew(*init_inputs, precision=precision)
        return module.ModelNew(*init_inputs)
    except Exception as e:
        where = getattr(module, "__file__", "ModelNew")
        raise CandidateError(f"candidate {where}: ModelNew{tuple(init_inputs)} failed, the reference Model's "
                             f"constructor arguments (input_size, hidden_size, scale_factor, clamp_min, "
                             f"clamp_max): {_describe(e, where)}") from None


def _describe(exc, path=None):
    """'Type: message (file:line: source)' for an exception, pointing at the deepest frame in `path` if any."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if path and os.path.abspath(f.filename) == os.path.abspath(str(path))]
    frame = (mine or frames or [None])[-1]
    text = f"{type(exc).__name__}: {str(exc).strip() or '(no message)'}".splitlines()[0]
    if frame is not None:
        text += f" ({os.path.basename(frame.filename)}:{frame.lineno}: {(frame.line or '').strip()})"
    return text


def _candidate_raised(exc, candidate, device):
    """'Type: message (file:line: source)' of an exception a candidate raised in a trial, which fails that trial; a
    candidate written for CUDA only (e.g. `assert x.is_cuda`) run without a GPU ends the check instead."""
    if device.type != "cuda":
        frames = traceback.extract_tb(exc.__traceback__)
        if "cuda" in (str(exc) + " ".join((f.line or "") for f in frames[-1:])).lower():
            raise CandidateError(f"candidate {candidate} needs a CUDA GPU, and this machine has none: "
                                 f"it raised {_describe(exc, candidate)}") from None
    return _describe(exc, candidate)


def poison_allocator(device, nbytes):
    """Leave NaN-filled blocks in the CUDA caching allocator, so that unwritten outputs show up as NaN."""
    if device.type == "cuda":
        torch.full((nbytes // 4 + 1,), float("nan"), device=device)


def run_check(candidate=None, shape=(32, 64, 48), precision="tf32", trials=5, dists=DISTRIBUTIONS, seed=42,
              device=None, log=print):
    """Returns a list of per-trial result dicts; each has 'passed'."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    M, K, N = shape
    init_inputs = [K, N, 2.0, -10.0, 10.0]
    module = load_candidate(candidate)
    torch.manual_seed(seed)
    ref_model = Model(*init_inputs).to(device)
    model = build_model(module, init_inputs, precision, seed).to(device)
    tol = TOLERANCE[precision]
    rng = random.Random(seed)
    results = []
    w, b = ref_model.matmul.weight.detach(), ref_model.matmul.bias.detach()
    same_params = all(torch.equal(p, q) for p, q in zip(ref_model.state_dict().values(), model.state_dict().values()))
    if not same_params:
        log("warning: the candidate's parameters differ from the reference's under the same seed")
    for dist in dists:
        for trial in range(trials):
            gen = torch.Generator().manual_seed(rng.randrange(2**31))
            x = make_x(dist, (M, K), gen, device)
            with torch.no_grad():
                expected = ref_model(x)
                gold = reference_forward(x.double(), w.double(), b.double(), *init_inputs[2:])
                poison_allocator(device, expected.numel() * 4 * 64)
                try:
                    got = model(x)
                except Exception as e:  # a crashing candidate fails the trial; the reason is reported
                    log(f"{dist:10s} trial {trial}: FAIL  candidate raised {_candidate_raised(e, candidate, device)}")
                    results.append({"dist": dist, "trial": trial, "passed": False, "error": repr(e)})
                    continue
            if device.type == "cuda":
                torch.cuda.synchronize()
            if not isinstance(got, torch.Tensor):
                log(f"{dist:10s} trial {trial}: FAIL  candidate returned {type(got).__name__}, not a tensor")
                results.append({"dist": dist, "trial": trial, "passed": False, "error": f"returned {type(got)}"})
                continue
            ok_shape = got.shape == expected.shape
            if not ok_shape:
                log(f"{dist:10s} trial {trial}: FAIL  output shape {tuple(got.shape)}, expected "
                    f"{tuple(expected.shape)}")
                results.append({"dist": dist, "trial": trial, "passed": False, "shape_ok": False})
                continue
            passed = bool(torch.allclose(got.float(), expected.float(), atol=tol, rtol=tol))
            err = got.double() - gold
            row = {"dist": dist, "trial": trial, "passed": passed, "shape_ok": True,
                   "rel_l2_vs_fp64": float(err.norm() / gold.norm()), "max_abs_vs_fp64": float(err.abs().max()),
                   "max_abs_vs_eager": float((got.double() - expected.double()).abs().max()),
                   "same_params": same_params}
            results.append(row)
            verdict = "PASS" if passed else f"FAIL (allclose atol=rtol={tol:g} vs eager)"
            log(f"{dist:10s} trial {trial}: {verdict}  rel-L2 {row['rel_l2_vs_fp64']:.2e}  "
                f"max-abs {row['max_abs_vs_fp64']:.2e} (vs fp64), {row['max_abs_vs_eager']:.2e} (vs eager)")
    return results


# --- Any KernelBench-format problem ---------------------------------------------------------------------------------
# KernelBench's tolerance by the reference output's dtype (its current fp32 value; 1e-2 for 16-bit types).
DTYPE_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-4, torch.float16: 1e-2, torch.bfloat16: 1e-2}


def load_problem(path=None):
    """A KernelBench-format problem module (class Model, get_inputs(), get_init_inputs()); None: problem 22."""
    if path is None:
        from . import problem
        return problem
    return _load_module(path, "problem", ("Model", "get_inputs", "get_init_inputs"))


def _to(value, device, dtype=None):
    if isinstance(value, torch.Tensor):
        return value.to(device=device, dtype=dtype if dtype is not None and value.is_floating_point() else None)
    return value


def _outputs(value):
    return list(value) if isinstance(value, (tuple, list)) else [value]


def run_problem_check(problem_path, candidate, trials=5, seed=42, device=None, log=print):
    """KernelBench's protocol for any problem: reference Model and candidate ModelNew built from get_init_inputs()
    under the same seed; per trial fresh get_inputs() under a new seed; every output tensor compared element-wise
    (allclose at the tolerance of its dtype); plus the error against the reference run in float64 where it can."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    problem = load_problem(problem_path)
    module = load_candidate(candidate)
    torch.manual_seed(seed)
    init = problem.get_init_inputs()
    torch.manual_seed(seed)
    ref = problem.Model(*init).to(device)
    torch.manual_seed(seed)
    try:
        model = module.ModelNew(*init).to(device)
    except Exception as e:
        raise CandidateError(f"candidate {candidate}: ModelNew{tuple(init)} failed: {_describe(e, candidate)}") from None
    gold_model = None
    if all(p.is_floating_point() for p in ref.parameters()):
        torch.manual_seed(seed)
        gold_model = problem.Model(*init).to(device).double()
        gold_model.load_state_dict(ref.state_dict())
    rng = random.Random(seed)
    results = []
    for trial in range(trials):
        torch.manual_seed(rng.randrange(2**31))
        inputs = [_to(v, device) for v in problem.get_inputs()]
        with torch.no_grad():
            expected = _outputs(ref(*inputs))
            poison_allocator(device, sum(t.numel() * t.element_size() for t in expected
                                         if isinstance(t, torch.Tensor)) * 16)
            try:
                got = _outputs(model(*inputs))
            except Exception as e:  # a crashing candidate fails the trial; the reason is reported
                log(f"trial {trial}: FAIL  candidate raised {_candidate_raised(e, candidate, device)}")
                results.append({"trial": trial, "passed": False, "error": repr(e)})
                continue
            gold = _outputs(gold_model(*[_to(v, device, torch.float64) for v in inputs])) if gold_model else None
        if device.type == "cuda":
            torch.cuda.synchronize()
        row = {"trial": trial, "passed": True, "outputs": []}
        if len(got) != len(expected):
            row.update(passed=False, error=f"{len(got)} outputs, expected {len(expected)}")
        for i, (g, e) in enumerate(zip(got, expected)):
            out = {"index": i}
            if not isinstance(g, torch.Tensor) or g.shape != e.shape:
                out["error"] = f"got {type(g).__name__} {tuple(getattr(g, 'shape', ()))}, expected {tuple(e.shape)}"
                row["passed"] = False
            else:
                tol = DTYPE_TOLERANCE.get(e.dtype, 0.0)
                ok = torch.allclose(g.to(e.dtype), e, atol=tol, rtol=tol) if e.is_floating_point() else torch.equal(g, e)
                out.update(tolerance=tol, passed=bool(ok), max_abs_vs_eager=float((g.double() - e.double()).abs().max())
                           if g.numel() else 0.0)
                if gold is not None and e.is_floating_point() and g.numel():
                    ref64 = gold[i].double()
                    out["rel_l2_vs_fp64"] = float((g.double() - ref64).norm() / ref64.norm().clamp_min(1e-300))
                row["passed"] &= bool(ok)
            row["outputs"].append(out)
        results.append(row)
        detail = "; ".join(f"out{o['index']}: " + (o["error"] if "error" in o else
                           f"max-abs {o['max_abs_vs_eager']:.2e} vs eager (tol {o['tolerance']:g})"
                           + (f", rel-L2 {o['rel_l2_vs_fp64']:.2e} vs fp64" if "rel_l2_vs_fp64" in o else ""))
                           for o in row["outputs"])
        log(f"trial {trial}: {'PASS' if row['passed'] else 'FAIL'}  {row.get('error', '')}{detail}")
    return results
