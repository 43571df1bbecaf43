"""KernelBench's correctness protocol for a candidate ModelNew, plus errors against a float64 reference."""
from __future__ import annotations

import importlib.util
import inspect
import random

import torch

from .inputs import DISTRIBUTIONS, make_x
from .problem import Model, reference_forward

TOLERANCE = {"tf32": 1e-4, "fp32": 1e-4, "bf16": 1e-2}


def load_candidate(path=None):
    """The module that defines ModelNew: a candidate file, or lsemish's own deliverable."""
    if path is None:
        from . import model_new
        return model_new
    spec = importlib.util.spec_from_file_location("lsemish_candidate", path)
    if spec is None:
        raise ValueError(f"cannot load candidate {path!r}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "ModelNew"):
        raise ValueError(f"candidate {path!r} defines no ModelNew")
    return module


def build_model(module, init_inputs, precision, seed):
    """ModelNew under `seed`, passing `precision` only where its constructor takes it."""
    torch.manual_seed(seed)
    if "precision" in inspect.signature(module.ModelNew.__init__).parameters:
        return module.ModelNew(*init_inputs, precision=precision)
    return module.ModelNew(*init_inputs)


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
                    log(f"{dist:10s} trial {trial}: FAIL  candidate raised {type(e).__name__}: {e}")
                    results.append({"dist": dist, "trial": trial, "passed": False, "error": repr(e)})
                    continue
            if device.type == "cuda":
                torch.cuda.synchronize()
            ok_shape = got.shape == expected.shape
            passed = bool(ok_shape and torch.allclose(got.float(), expected.float(), atol=tol, rtol=tol))
            err = (got.double() - gold) if ok_shape else None
            row = {"dist": dist, "trial": trial, "passed": passed, "shape_ok": ok_shape,
                   "rel_l2_vs_fp64": float(err.norm() / gold.norm()) if ok_shape else float("nan"),
                   "max_abs_vs_fp64": float(err.abs().max()) if ok_shape else float("nan"),
                   "max_abs_vs_eager": float((got.double() - expected.double()).abs().max()) if ok_shape
                   else float("nan"), "same_params": same_params}
            results.append(row)
            log(f"{dist:10s} trial {trial}: {'PASS' if passed else 'FAIL'}  rel-L2 {row['rel_l2_vs_fp64']:.2e}  "
                f"max-abs {row['max_abs_vs_fp64']:.2e} (vs fp64), {row['max_abs_vs_eager']:.2e} (vs eager)")
    return results
