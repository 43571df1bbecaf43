"""lsemish: check, time, profile and lint candidates for KernelBench level 2 problem 22."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .inputs import DISTRIBUTIONS

PRECISION_CHOICES = ("tf32", "fp32", "bf16")
PROBLEM_HELP = "a KernelBench-format problem file (class Model, get_inputs, get_init_inputs); default: problem 22"
GPU_NAMES = ("4090", "H100", "H200", "A100", "L40S")
HEADLINE = (1024, 8192, 8192)
CPU_SHAPE = (32, 64, 48)
# Options whose value may start with '-' (a negative shape is then rejected by the option's own check, not mistaken
# by argparse for another option).
_VALUE_OPTIONS = ("--shape", "--shapes")


def _shape(text):
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"shape must be M,K,N with three positive integers; got {text!r}")
    return tuple(int(p) for p in parts)


def _shapes_item(text):
    from .bench import SHAPES
    return text if text in SHAPES else _shape(text)


def _positive(text):
    if not text.strip().lstrip("-").isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return int(text)


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


def _output_file(text):
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"cannot write {text}: no such directory {folder}")
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: directory {folder} is not writable")
    return text


class _Help(argparse.HelpFormatter):
    # Shows an option's default where it has one and its help does not already say it.
    def _get_help_string(self, action):
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            default = action.default
            if isinstance(default, (list, tuple)):
                default = ",".join(map(str, default))
            text += f" (default: {default})"
        return text


def build_parser(prog="lsemish"):
    fmt = _Help
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=fmt)
    sub = p.add_subparsers(dest="command", required=True,
                           metavar="{check,bench,grad,profile,lint,emit,prompt,loop}")
    c = sub.add_parser("check", help="KernelBench correctness protocol against the reference", formatter_class=fmt)
    c.add_argument("--candidate", type=_existing_file, help="file defining ModelNew (default: lsemish's own)")
    c.add_argument("--shape", type=_shape, help="M,K,N (default: 1024,8192,8192 on a GPU, 32,64,48 without)")
    c.add_argument("--precision", choices=PRECISION_CHOICES,
                   help="default tf32 on a GPU; fp32 through the interpreter, where shapes are too small for "
                        "tf32 to meet 1e-4 (cuBLAS tf32 does not either)")
    c.add_argument("--trials", type=_positive, default=5, help="trials per distribution")
    c.add_argument("--dist", type=_dists, default=list(DISTRIBUTIONS), help="comma-separated distributions")
    c.add_argument("--seed", type=int, default=42, help="seed of the models' parameters and of the inputs")
    c.add_argument("--json", type=_output_file, help="write per-trial results here")
    c.add_argument("--problem", type=_existing_file, help=PROBLEM_HELP + " (then --shape and --dist do not apply)")
    b = sub.add_parser("bench", help="side-by-side timings (GPU)", formatter_class=fmt)
    b.add_argument("--shapes", nargs="+", type=_shapes_item, default=["headline"],
                   help="headline | sweep | M,K,N ...")
    b.add_argument("--precision", nargs="+", choices=PRECISION_CHOICES, default=list(PRECISION_CHOICES),
                   help="lsemish precision modes to time")
    b.add_argument("--candidate", action="append", default=[], type=_existing_file,
                   help="FILE[:LABEL], a ModelNew to time beside ours (repeatable)")
    b.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    b.add_argument("--out", help="results folder (default benchmarks/results/<date>-<gpu>)")
    b.add_argument("--backward", action="store_true", help="also time forward + backward and its peak memory")
    b.add_argument("--problem", type=_existing_file,
                   help=PROBLEM_HELP + " (then: reference eager, torch.compile and the candidates on get_inputs())")
    g = sub.add_parser("grad", help="gradients of x, W, b against float64, next to eager PyTorch's (GPU)",
                       formatter_class=fmt)
    g.add_argument("--shape", type=_shape, default=HEADLINE, help="M,K,N")
    g.add_argument("--precision", nargs="+", choices=PRECISION_CHOICES, default=list(PRECISION_CHOICES),
                   help="lsemish precision modes to check")
    g.add_argument("--trials", type=_positive, default=2, help="trials per distribution")
    g.add_argument("--dist", type=_dists, default=list(DISTRIBUTIONS), help="comma-separated distributions")
    g.add_argument("--seed", type=int, default=7, help="seed of the parameters and inputs")
    g.add_argument("--json", type=_output_file, help="write per-trial results here")
    g.add_argument("--problem", type=_existing_file, help="problem 22 only (the gradient check knows its reference)")
    pr = sub.add_parser("profile", help="Nsight Compute metrics of one forward, in the seed's JSON shape (GPU)",
                        formatter_class=fmt)
    pr.add_argument("--candidate", type=_existing_file, help="file defining ModelNew (default: lsemish's own)")
    pr.add_argument("--shape", type=_shape, default=HEADLINE, help="M,K,N")
    pr.add_argument("--out", type=_output_file, default="profile.json", help="where the metrics JSON goes")
    pr.add_argument("--problem", type=_existing_file, help=PROBLEM_HELP)
    li = sub.add_parser("lint", help="check a candidate file against the seed's rules", formatter_class=fmt)
    li.add_argument("file", type=_existing_file, help="the candidate file")
    sub.add_parser("emit", help="print the single-file deliverable")
    pm = sub.add_parser("prompt", help="write the seed's prompt for a candidate", formatter_class=fmt)
    pm.add_argument("--candidate", type=_existing_file, required=True, help="the current code")
    pm.add_argument("--problem", type=_existing_file, help=PROBLEM_HELP + " (used to profile the candidate)")
    pm.add_argument("--gpu", default="4090", help="target GPU: " + ", ".join(GPU_NAMES) + ", or auto (this machine's)")
    pm.add_argument("--stage", type=_existing_file, help="a file with the optimization stage (default: the seed's)")
    pm.add_argument("--metrics", type=_existing_file,
                    help="the candidate's metrics JSON (default: profile it here; needs a GPU and ncu)")
    pm.add_argument("--out", type=_output_file, help="write the prompt here instead of standard output")
    lo = sub.add_parser("loop", help="the seed's optimization loop with an agent command", formatter_class=fmt)
    lo.add_argument("--agent", required=True, help="shell command: the prompt on its standard input, an answer with "
                                                  "a fenced python block on its standard output")
    lo.add_argument("--rounds", type=_positive, required=True, help="rounds to run (in all, when resuming)")
    lo.add_argument("--problem", type=_existing_file, help=PROBLEM_HELP)
    lo.add_argument("--candidate", type=_existing_file,
                    help="the starting code (default for problem 22: lsemish's own deliverable)")
    lo.add_argument("--out", default="loop-out", help="folder for every round's files; an existing one is resumed")
    lo.add_argument("--gpu", default="4090", help="target GPU named in the prompts")
    lo.add_argument("--stage", type=_existing_file, help="a file with the optimization stage (default: the seed's)")
    lo.add_argument("--agent-timeout", type=_positive, default=600, help="seconds an agent may take per round")
    lo.add_argument("--step-timeout", type=_positive, default=900,
                    help="seconds a candidate's check, bench or profile may take")
    lo.add_argument("--trials", type=_positive, default=5, help="check trials per round")
    return p


def _join_dash_values(argv):
    # "--shape -1,64,48" -> "--shape=-1,64,48", so that the shape check reports it.
    out = []
    for a in argv:
        if out and out[-1] in _VALUE_OPTIONS and a.startswith("-") and "," in a:
            out[-1] = f"{out[-1]}={a}"
        else:
            out.append(a)
    return out


def main(argv=None, prog="lsemish"):
    argv = _join_dash_values(sys.argv[1:] if argv is None else list(argv))
    args = build_parser(prog).parse_args(argv)
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
    from .check import CandidateError
    try:
        return _COMMANDS[args.command](args)
    except CandidateError as e:  # a candidate that cannot be loaded or built: one line, exit 1
        print(f"{prog} {args.command}: {e}", file=sys.stderr)
        return 1


def _check(args):
    import torch
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        os.environ["TRITON_INTERPRET"] = "1"
        import triton
        triton.knobs.runtime.interpret = True
    gpu = torch.cuda.is_available()
    shape = args.shape or (HEADLINE if gpu else CPU_SHAPE)
    precision = args.precision or ("tf32" if gpu else "fp32")
    from .check import TOLERANCE, run_check
    if not gpu and not args.problem:
        print(f"no GPU: running through Triton's interpreter at {shape[0]}x{shape[1]}x{shape[2]}, "
              f"precision {precision}, tolerance atol=rtol={TOLERANCE[precision]:g}")
        if precision != "fp32":
            print(f"note: {precision} rounds operands (relative error ~{'5e-4' if precision == 'tf32' else '4e-3'} "
                  "per product), which the interpreter emulates exactly; at these small shapes the output is not "
                  "averaged enough to meet KernelBench's fp32 tolerance (cuBLAS TF32 does not either). "
                  "At the headline shape on a GPU it does.")
    if args.problem:
        from .check import run_problem_check
        print(f"problem {args.problem}: KernelBench's protocol on its get_inputs(), {args.trials} trials on "
              f"{'the GPU' if gpu else 'the CPU through Triton' + chr(39) + 's interpreter'}")
        results = run_problem_check(args.problem, args.candidate, args.trials, args.seed)
    else:
        results = run_check(args.candidate, shape, precision, args.trials, args.dist, args.seed)
    failed = sum(not r["passed"] for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"problem": args.problem, "shape": None if args.problem else shape,
                       "precision": None if args.problem else precision, "candidate": args.candidate,
                       "device": torch.cuda.get_device_name() if gpu else "cpu (Triton interpreter)",
                       "torch": torch.__version__, "results": results}, fh, indent=1)
    return 1 if failed else 0


def _bench(args):
    import torch
    from .bench import SHAPES, run_bench
    if not torch.cuda.is_available():
        raise SystemExit("bench needs a CUDA GPU (timings through the interpreter would mean nothing)")
    if args.problem:
        from .bench import bench_problem
        out = args.out or os.path.join("benchmarks", "results", f"{time.strftime('%Y-%m-%d')}-problem")
        _, table = bench_problem(args.problem, args.candidate, out, not args.no_compile,
                                 log=lambda m: print(m, file=sys.stderr, flush=True))
        print(table)
        return 0
    shapes = []
    for s in args.shapes:
        shapes += SHAPES[s] if isinstance(s, str) else [s]
    gpu = torch.cuda.get_device_name().replace(" ", "-")
    out = args.out or os.path.join("benchmarks", "results", f"{time.strftime('%Y-%m-%d')}-{gpu}")
    _, table = run_bench(shapes, args.precision, args.candidate, out, not args.no_compile,
                         log=lambda m: print(m, file=sys.stderr, flush=True), backward=args.backward)
    print(table)
    return 0


def _grad(args):
    import torch
    if args.problem and os.path.abspath(args.problem) != os.path.abspath(__import__("lsemish.problem").problem.__file__):
        raise SystemExit("grad: only problem 22 (lsemish.problem) is supported; "
                         f"{args.problem} has no gradient reference here")
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


def _profile(args):
    import torch
    if not torch.cuda.is_available():
        raise SystemExit("profile needs a CUDA GPU and Nsight Compute (ncu)")
    from .profile import run_profile
    result = run_profile(args.candidate, args.shape, args.out, problem=args.problem)
    print(json.dumps(result, indent=2))
    return 0


def _prompt(args):
    from .prompt import build_prompt, resolve_gpu
    try:
        gpu = resolve_gpu(args.gpu)
    except ValueError as e:
        raise SystemExit(f"prompt: {e}")
    if args.metrics:
        try:
            with open(args.metrics) as fh:
                metrics = json.load(fh)
        except ValueError as e:
            raise SystemExit(f"prompt: {args.metrics} is not JSON: {e}")
    else:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit("prompt: no GPU here to profile the candidate; pass its metrics with --metrics FILE")
        from .profile import run_profile
        metrics = run_profile(args.candidate, HEADLINE, args.out + ".metrics.json" if args.out else "profile.json",
                              log=lambda m: print(m, file=sys.stderr), problem=args.problem)
    with open(args.candidate) as fh:
        code = fh.read()
    stage = None
    if args.stage:
        with open(args.stage) as fh:
            stage = fh.read()
    text = build_prompt(code, metrics, gpu, stage)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _loop(args):
    from .loop import run_loop
    summary = run_loop(args.agent, args.rounds, problem=args.problem, start=args.candidate, out=args.out,
                       gpu=args.gpu, stage_file=args.stage, agent_timeout=args.agent_timeout,
                       step_timeout=args.step_timeout, trials=args.trials)
    print(summary)
    return 0


_COMMANDS = {"check": _check, "bench": _bench, "grad": _grad, "profile": _profile, "prompt": _prompt, "loop": _loop}
