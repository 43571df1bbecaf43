"""python -m lsemish {check,grad,bench,profile,lint,emit}"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .inputs import DISTRIBUTIONS

PRECISION_CHOICES = ("tf32", "fp32", "bf16")


def _shape(text):
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"shape must be M,K,N with three positive integers; got {text!r}")
    return tuple(int(p) for p in parts)


def _dists(text):
    names = [d.strip() for d in text.split(",") if d.strip()]
    bad = [d for d in names if d not in DISTRIBUTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown distribution(s) {bad}; valid: {', '.join(DISTRIBUTIONS)}")
    return names


def _existing_file(text):
    if not os.path.isfile(text.split(":")[0]):
        raise argparse.ArgumentTypeError(f"no such file: {text.split(':')[0]}")
    return text


def build_parser():
    p = argparse.ArgumentParser(prog="python -m lsemish", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="KernelBench correctness protocol against the reference")
    c.add_argument("--candidate", type=_existing_file, help="file defining ModelNew (default: lsemish's own)")
    c.add_argument("--shape", type=_shape, help="M,K,N (default: 1024,8192,8192 on a GPU, 32,64,48 without)")
    c.add_argument("--precision", choices=PRECISION_CHOICES,
                   help="default tf32 on a GPU; fp32 through the interpreter, where shapes are too small for "
                        "tf32 to meet 1e-4 (cuBLAS tf32 does not either)")
    c.add_argument("--trials", type=int, default=5)
    c.add_argument("--dist", type=_dists, default=list(DISTRIBUTIONS), help="comma-separated distributions")
    c.add_argument("--seed", type=int, default=42)
    c.add_argument("--json", help="write per-trial results here")
    b = sub.add_parser("bench", help="side-by-side timings (GPU)")
    b.add_argument("--shapes", nargs="+", default=["headline"], help="headline | sweep | M,K,N ...")
    b.add_argument("--precision", nargs="+", choices=PRECISION_CHOICES, default=list(PRECISION_CHOICES))
    b.add_argument("--candidate", action="append", default=[], type=_existing_file, help="FILE[:LABEL]")
    b.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    b.add_argument("--out", help="results folder (default benchmarks/results/<date>-<gpu>)")
    b.add_argument("--backward", action="store_true", help="also time forward + backward and its peak memory")
    g = sub.add_parser("grad", help="gradients of x, W, b against float64, next to eager PyTorch's (GPU)")
    g.add_argument("--shape", type=_shape, default=(1024, 8192, 8192))
    g.add_argument("--precision", nargs="+", choices=PRECISION_CHOICES, default=list(PRECISION_CHOICES))
    g.add_argument("--trials", type=int, default=2)
    g.add_argument("--dist", type=_dists, default=list(DISTRIBUTIONS), help="comma-separated distributions")
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--json", help="write per-trial results here")
    pr = sub.add_parser("profile", help="Nsight Compute metrics of one forward, in the seed's JSON shape")
    pr.add_argument("--candidate", type=_existing_file)
    pr.add_argument("--shape", type=_shape, default=(1024, 8192, 8192))
    pr.add_argument("--out", default="profile.json")
    li = sub.add_parser("lint", help="check a candidate file against the seed's rules")
    li.add_argument("file", type=_existing_file)
    sub.add_parser("emit", help="print the single-file deliverable")
    f = sub.add_parser("_forward", help=argparse.SUPPRESS)
    f.add_argument("--candidate")
    f.add_argument("--shape", type=_shape, default=(1024, 8192, 8192))
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "emit":
        from . import deliverable_source
        sys.stdout.write(deliverable_source())
        return 0
    if args.command == "lint":
        from .lint import lint_file
        findings = lint_file(args.file)
        for f in findings:
            print(f)
        errors = sum(f.severity == "error" for f in findings)
        print(f"{args.file}: {errors} error(s), {len(findings) - errors} warning(s)")
        return 1 if errors else 0
    import torch
    if args.command == "check":
        if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
            os.environ["TRITON_INTERPRET"] = "1"
            import triton
            triton.knobs.runtime.interpret = True
        gpu = torch.cuda.is_available()
        shape = args.shape or ((1024, 8192, 8192) if gpu else (32, 64, 48))
        args.precision = args.precision or ("tf32" if gpu else "fp32")
        if not gpu:
            print(f"no GPU: running through Triton's interpreter at {shape[0]}x{shape[1]}x{shape[2]}, "
                  f"precision {args.precision}")
        from .check import run_check
        results = run_check(args.candidate, shape, args.precision, args.trials, args.dist, args.seed)
        failed = sum(not r["passed"] for r in results)
        print(f"{len(results) - failed} passed, {failed} failed")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"shape": shape, "precision": args.precision, "candidate": args.candidate,
                           "device": torch.cuda.get_device_name() if gpu else "cpu (Triton interpreter)",
                           "torch": torch.__version__, "results": results}, fh, indent=1)
        return 1 if failed else 0
    if args.command == "bench":
        from .bench import SHAPES, run_bench
        shapes = []
        for s in args.shapes:
            shapes += SHAPES[s] if s in SHAPES else [_shape(s)]
        gpu = torch.cuda.get_device_name().replace(" ", "-") if torch.cuda.is_available() else "none"
        out = args.out or os.path.join("benchmarks", "results", f"{time.strftime('%Y-%m-%d')}-{gpu}")
        _, table = run_bench(shapes, args.precision, args.candidate, out, not args.no_compile,
                             log=lambda m: print(m, file=sys.stderr, flush=True), backward=args.backward)
        print(table)
        return 0
    if args.command == "grad":
        if not torch.cuda.is_available():
            raise SystemExit("grad needs a CUDA GPU (tests/test_backward.py covers gradients through the interpreter)")
        from .grad_check import run_grad_check
        rows = run_grad_check(args.shape, args.precision, args.trials, args.dist, args.seed)
        checked = [r for r in rows if "passed" in r]
        failed = sum(not r["passed"] for r in checked)
        print(f"{len(checked) - failed} passed, {failed} failed")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"shape": args.shape, "device": torch.cuda.get_device_name(), "torch": torch.__version__,
                           "triton": __import__("triton").__version__, "date": time.strftime("%Y-%m-%d"),
                           "command": "python -m lsemish " + " ".join(sys.argv[1:]), "rows": rows}, fh, indent=1)
        return 1 if failed else 0
    if args.command == "profile":
        from .profile import run_profile
        result = run_profile(args.candidate, args.shape, args.out)
        print(json.dumps(result, indent=2))
        return 0
    if args.command == "_forward":
        from .profile import forward_once
        forward_once(args.candidate, args.shape)
        return 0
    return 2
