"""lsemish: check, time, profile and lint candidates for KernelBench level 2 problem 22."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .evaluate.cpus import use_cpus
from .evaluate.inputs import ALL as DISTRIBUTIONS
from .evaluate.inputs import DISTRIBUTIONS as GRAD_DISTRIBUTIONS

PRECISION_CHOICES = ("tf32", "fp32", "bf16")
PROBLEM_HELP = "a KernelBench-format problem file (class Model, get_inputs, get_init_inputs); default: problem 22"
GPU_NAMES = ("4090", "H100", "H200", "A100", "L40S")
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


def _dist_list(valid):
    def parse(text):
        names = [d.strip() for d in text.split(",") if d.strip()]
        bad = [d for d in names if d not in valid]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"unknown distribution(s) {bad}; valid: {', '.join(valid)}")
        return names
    return parse


_dists = _dist_list(DISTRIBUTIONS)


def _existing_file(text):
    path = text.split(":")[0]
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file")
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"no such file: {path}")
    return text


def _set_item(text):
    from .problems import ProblemError, parse_sets
    try:
        parse_sets([text])
    except ProblemError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 < value < float("inf"):  # NaN too: it compared as no limit at all (a red team's, session 28)
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds; got {text!r}")
    return value


SET_HELP = "NAME=VALUE: override a problem's module-level size before get_inputs()/get_init_inputs() (repeatable)"
TIMEOUT_HELP = "seconds the candidate's worker may take for one request (one trial, one timed call)"


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
                           metavar="{check,bench,grad,profile,lint,emit,prompt,loop,report}")
    c = sub.add_parser("check", help="KernelBench correctness protocol against the reference", description="The candidate (default: lsemish's own, for problem 22) in a sandboxed worker, judged here: KernelBench's protocol on the problem's get_inputs(), the reuse probe, and the same shapes from other distributions. Exit 0 only when all pass.", formatter_class=fmt)
    c.add_argument("--candidate", type=_existing_file, help="file defining ModelNew (default: lsemish's own)")
    c.add_argument("--shape", type=_shape, help="problem 22: M,K,N (default: 1024,8192,8192 on a GPU, 32,64,48 "
                   "without); the same as --set batch_size=M --set input_size=K --set hidden_size=N")
    c.add_argument("--precision", choices=PRECISION_CHOICES,
                   help="default tf32 on a GPU; fp32 through the interpreter, where shapes are too small for "
                        "tf32 to meet 1e-4 (cuBLAS tf32 does not either)")
    c.add_argument("--trials", type=_positive, default=5, help="trials per distribution")
    c.add_argument("--dist", type=_dists, default=list(DISTRIBUTIONS),
                   help="comma-separated: kernelbench (the problem's get_inputs(), KernelBench's protocol) and "
                        "the same shapes from other distributions")
    c.add_argument("--set", dest="sets", action="append", type=_set_item, default=[], help=SET_HELP)
    c.add_argument("--timeout", type=_seconds, default=120.0, help=TIMEOUT_HELP)
    c.add_argument("--seed", type=int, default=42,
                   help="seed of the models' parameters (the inputs are drawn afresh for each run)")
    c.add_argument("--json", type=_output_file, help="write per-trial results here")
    c.add_argument("--problem", type=_existing_file, help=PROBLEM_HELP)
    b = sub.add_parser("bench", help="side-by-side timings (GPU)", description="Without --candidate/--problem/--set: lsemish's own modes beside cuBLAS, eager and torch.compile, in one process. With them: candidates in sandboxed workers beside the problem's reference, every figure verified.", formatter_class=fmt)
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
    b.add_argument("--set", dest="sets", action="append", type=_set_item, default=[], help=SET_HELP)
    b.add_argument("--calls", type=_positive, default=30, help="timed calls per round, each on fresh inputs "
                   "(with --candidate or --problem)")
    b.add_argument("--budget", type=_seconds, default=300.0,
                   help="seconds one contender's measurement may take in all (with --candidate or --problem)")
    b.add_argument("--timeout", type=_seconds, default=120.0, help=TIMEOUT_HELP)
    g = sub.add_parser("grad", help="gradients of x, W, b against float64, next to eager PyTorch's (GPU)",
                       formatter_class=fmt)
    g.add_argument("--shape", type=_shape, help="M,K,N (default: the headline, 1024,8192,8192)")
    g.add_argument("--precision", nargs="+", choices=PRECISION_CHOICES, default=list(PRECISION_CHOICES),
                   help="lsemish precision modes to check")
    g.add_argument("--trials", type=_positive, default=2, help="trials per distribution")
    g.add_argument("--dist", type=_dist_list(GRAD_DISTRIBUTIONS), default=list(GRAD_DISTRIBUTIONS),
                   help="comma-separated distributions")
    g.add_argument("--seed", type=int, default=7, help="seed of the parameters and inputs")
    g.add_argument("--json", type=_output_file, help="write per-trial results here")
    g.add_argument("--problem", type=_existing_file, help="problem 22 only (the gradient check knows its reference)")
    pr = sub.add_parser("profile", help="Nsight Compute metrics of one forward, in the seed's JSON shape (GPU)",
                        formatter_class=fmt)
    pr.add_argument("--candidate", type=_existing_file, help="file defining ModelNew (default: lsemish's own)")
    pr.add_argument("--shape", type=_shape, help="problem 22: M,K,N (default: its headline sizes)")
    pr.add_argument("--out", type=_output_file, default="profile.json", help="where the metrics JSON goes")
    pr.add_argument("--problem", type=_existing_file, help=PROBLEM_HELP)
    pr.add_argument("--set", dest="sets", action="append", type=_set_item, default=[], help=SET_HELP)
    pr.add_argument("--timeout", type=_seconds, default=600.0, help="seconds the profiled run may take")
    from .lint import RULES
    li = sub.add_parser("lint", help="check a candidate file against the seed's rules",
                        description="Static checks of a candidate file; each finding names its line and rule. "
                                    "Errors make the exit status 1. Rules: "
                        + "; ".join(f"[{k}] {v}" for k, v in RULES.items()), formatter_class=fmt)
    li.add_argument("file", type=_existing_file, help="the candidate file")
    sub.add_parser("emit", help="print the single-file deliverable", description="The deliverable as one file in the seed's order: imports, kernels, wrappers, class ModelNew.")
    pm = sub.add_parser("prompt", help="write the seed's prompt for a candidate", description="The seed's prompt layout for a candidate: target GPU, stage, the code, its Nsight Compute metrics, the task and rules.", formatter_class=fmt)
    pm.add_argument("--candidate", type=_existing_file, required=True, help="the current code")
    pm.add_argument("--problem", type=_existing_file, help=PROBLEM_HELP + " (used to profile the candidate)")
    pm.add_argument("--gpu", default="4090", help="target GPU: " + ", ".join(GPU_NAMES) + ", or auto (this machine's)")
    pm.add_argument("--stage", type=_existing_file, help="a file with the optimization stage (default: the seed's)")
    pm.add_argument("--metrics", help="the candidate's metrics JSON as `profile` writes it, or `seed` for the "
                    "seed's own (shipped; rebuilds the seed's prompt without a GPU) (default: profile it here; needs "
                    "a GPU and ncu)")
    pm.add_argument("--out", type=_output_file, help="write the prompt here instead of standard output")
    lo = sub.add_parser("loop", help="the seed's optimization loop as a search: agents, samples, strategies, every "
                        "GPU", description="Rounds of prompt -> agent -> lint -> check -> bench -> profile; the "
                        "strategy picks each round's parents; candidates are evaluated on every GPU (or in parallel "
                        "CPU processes without one), each in a sandboxed worker.", formatter_class=fmt)
    lo.add_argument("--agent", required=True, help="openai:MODEL (an OpenAI-compatible endpoint: OPENAI_BASE_URL, "
                    "OPENAI_API_KEY; pip install 'lsemish[openai]') or a shell command: the prompt on its standard "
                    "input, an answer with "
                                                  "a fenced python block on its standard output")
    lo.add_argument("--rounds", type=_positive, required=True, help="rounds to run (in all, when resuming)")
    lo.add_argument("--problem", type=_existing_file, help=PROBLEM_HELP)
    lo.add_argument("--candidate", type=_existing_file,
                    help="the starting code (default: for problem 22 lsemish's own deliverable, for any other problem "
                         "its reference Model, as KernelBench's prompts show it)")
    lo.add_argument("--problems", help="a suite: a folder of problem files or a glob pattern; each problem runs in "
                    "OUT/<its name>/, all at once on one evaluation pool, then 'report' scores the suite")
    lo.add_argument("--candidates", help="with --problems: a folder of starting candidates, matched by file name "
                    "(a problem without one starts from its reference)")
    lo.add_argument("--set", dest="sets", action="append", type=_set_item, default=[], help=SET_HELP)
    lo.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS", help="evaluate as Ray tasks, one GPU "
                    "each, on a local Ray instance (no ADDRESS) or a cluster (ADDRESS, e.g. auto); pip install "
                    "'lsemish[ray]'")
    lo.add_argument("--out", default="loop-out", help="folder for every round's files; an existing one is resumed")
    lo.add_argument("--gpu", help="target GPU named in the prompts (default: auto, the GPU candidates are timed on; "
                    "without one, the seed's 4090)")
    lo.add_argument("--stage", type=_existing_file, help="a file with the optimization stage (default: the seed's)")
    lo.add_argument("--stages", nargs="+", help="stage files or folders, run in order (see --patience); the package "
                    "ships some: " + os.path.join("src", "lsemish", "search", "stages"))
    lo.add_argument("--patience", type=_positive, default=2,
                    help="rounds without a better best before the next stage")
    lo.add_argument("--samples", type=_positive, default=1, help="answers asked per parent per round")
    lo.add_argument("--strategy", choices=("greedy", "best-of-n", "beam"), default="greedy",
                    help="greedy: the best so far is the parent; best-of-n: the round's fastest passing; beam: the "
                         "--beam fastest passing")
    lo.add_argument("--beam", type=_positive, default=2, help="parents kept by --strategy beam")
    lo.add_argument("--agent-concurrency", type=_positive, help="agent calls at once (default: all of a round's)")
    lo.add_argument("--gpus", help="GPUs that evaluate: all or 0,1,... (default: all)")
    lo.add_argument("--workers", type=_positive, help="without a GPU: parallel evaluations (default: CPU count, "
                    "at most the round's samples)")
    lo.add_argument("--agent-timeout", type=_positive, default=600, help="seconds an agent may take per round")
    lo.add_argument("--step-timeout", type=_positive, default=900,
                    help="seconds a candidate's check, bench or profile may take")
    lo.add_argument("--trials", type=_positive, default=5, help="check trials per round")
    lo.add_argument("--call-timeout", type=_seconds, default=120.0, help=TIMEOUT_HELP)
    rp = sub.add_parser("report", help="a folder of loop runs as a suite: KernelBench's scores", description="Each "
                        "subfolder of DIR holding a loop's summary.json is one problem: suite.md (per problem: "
                        "correct, best per-call latency, speedup vs eager and torch.compile, rounds to best; "
                        "KernelBench's fast_p for p = 0, 1, 1.5, 2 and geomean speedups where the runs were timed "
                        "on a GPU; the fraction correct otherwise), suite.json, and fast_p.png where timed. A "
                        "problem the loop could not run (too large for the machine) is listed as not run; one "
                        "whose run was cut short (only its state.json) counts what it evaluated and is named.",
                        formatter_class=fmt)
    rp.add_argument("dir", help="the folder of loop runs")
    rp.add_argument("--out", help="where the report goes (default: DIR)")
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


def _take_cpu_share():
    """Run on the CPUs the loop gave this step (LSEMISH_CPUS, set by search.pool.step_environment), if any, with
    torch's threads no more than they are (evaluate.cpus)."""
    share = os.environ.get("LSEMISH_CPUS")
    if share and hasattr(os, "sched_setaffinity"):
        try:
            use_cpus({int(c) for c in share.split(",")})
        except (ValueError, OSError) as e:
            print(f"lsemish: LSEMISH_CPUS={share!r} not applied ({e})", file=sys.stderr)


def main(argv=None, prog="lsemish"):
    from .search.children import die_with_parent
    die_with_parent()
    _take_cpu_share()
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
    from .problems import ProblemError
    try:
        return _COMMANDS[args.command](args)
    except ProblemError as e:  # a problem, candidate or size that cannot be used: one line, exit 1
        print(f"{prog} {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog} {args.command}: interrupted", file=sys.stderr)
        return 130


def _problem_sets(args, gpu):
    """The --set overrides, with problem 22's --shape turned into its three sizes."""
    from .problems import ProblemError, is_problem_22, parse_sets, problem_22_sizes
    sets = parse_sets(args.sets)
    shape = getattr(args, "shape", None)
    if is_problem_22(args.problem):
        sets = problem_22_sizes(sets, shape, interpreted=not gpu)
    elif shape:
        raise ProblemError("--shape M,K,N is problem 22's; for another problem use --set NAME=VALUE")
    return sets


def _check(args):
    import torch
    gpu = torch.cuda.is_available()
    if not gpu:
        os.environ["TRITON_INTERPRET"] = "1"  # the worker runs Triton kernels through the interpreter
    from .evaluate.check import run_check
    from .evaluate.compare import PRECISION_TOLERANCE
    from .evaluate.sandbox import Limits
    from .problems import is_problem_22
    from .evaluate.check import resolve_candidate
    resolve_candidate(args.problem, args.candidate)  # a missing --candidate is said before anything runs
    sets = _problem_sets(args, gpu)
    kwargs, tolerance = {}, None
    if is_problem_22(args.problem):
        precision = args.precision or ("tf32" if gpu else "fp32")
        kwargs = {"precision": precision}
        tolerance = PRECISION_TOLERANCE[precision] if precision == "bf16" else None
    elif args.precision:
        kwargs = {"precision": args.precision}
    if not gpu and is_problem_22(args.problem):
        shape = tuple(sets[k] for k in ("batch_size", "input_size", "hidden_size"))
        print(f"no GPU: running through Triton's interpreter at {shape[0]}x{shape[1]}x{shape[2]}, precision "
              f"{kwargs['precision']}, tolerance atol=rtol={tolerance or PRECISION_TOLERANCE[kwargs['precision']]:g}")
        if kwargs["precision"] != "fp32":
            print(f"note: {kwargs['precision']} rounds operands (relative error "
                  f"~{'5e-4' if kwargs['precision'] == 'tf32' else '4e-3'} per product), which the interpreter "
                  "emulates exactly; at these small shapes the output is not averaged enough to meet KernelBench's "
                  "fp32 tolerance (cuBLAS TF32 does not either). At the headline shape on a GPU it does.")
    where = "the GPU" if gpu else "the CPU through Triton's interpreter"
    from .evaluate.inputs import EDGES
    from .problems import load_problem
    dists = list(args.dist)
    if EDGES in dists and not hasattr(load_problem(args.problem, sets), "edge_inputs"):
        dists.remove(EDGES)
        dists.append("(no edges: the problem defines no edge_inputs)")
    print(f"problem {args.problem or 'KernelBench level 2, problem 22'}{' ' + str(sets) if sets else ''}: "
          f"candidate {args.candidate or 'lsemish (its own ModelNew)'} in its own worker on {where}; "
          f"{args.trials} trial(s) per distribution (and the reuse probes): {', '.join(dists)}"
          + (f"; precision {kwargs['precision']}" if kwargs else ""))
    report = run_check(args.problem, args.candidate, sets, args.trials, args.dist, args.seed, model_kwargs=kwargs,
                       tolerance=tolerance, limits=Limits(request_s=args.timeout))
    print(f"{report['passed']} passed, {report['failed']} failed" if report["passed"] + report["failed"] else
          "no trial ran")
    if args.problem is None and args.candidate and "ModelNew(" in (report["reason"] or ""):
        print("hint: without --problem the candidate is judged on KernelBench level 2 problem 22; name its problem "
              "with --problem FILE")
    if report.get("log_bytes"):
        print(f"the candidate printed {report['log_bytes']} bytes: {report['log']}")
    print(f"{report['verdict'].upper()}: {report['summary']}")
    if args.json:
        report.update(shape=getattr(args, "shape", None), torch=torch.__version__,
                      device_name=torch.cuda.get_device_name() if gpu else "cpu (Triton interpreter)",
                      results=report["trials"])
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0 if report["verdict"] == "pass" else 1


def _bench(args):
    import torch
    if not torch.cuda.is_available():
        raise SystemExit("bench needs a CUDA GPU (timings through the interpreter would mean nothing)")
    if args.problem or args.candidate or args.sets:
        return _bench_candidates(args)
    from .bench import SHAPES, run_bench
    shapes = []
    for s in args.shapes:
        shapes += SHAPES[s] if isinstance(s, str) else [s]
    gpu = torch.cuda.get_device_name().replace(" ", "-")
    out = args.out or os.path.join("benchmarks", "results", f"{time.strftime('%Y-%m-%d')}-{gpu}")
    from .report.bench import write_results
    result = run_bench(shapes, args.precision, not args.no_compile,
                       log=lambda m: print(m, file=sys.stderr, flush=True), backward=args.backward)
    print(write_results(result, out))
    return 0


def _bench_candidates(args):
    """Candidates (untrusted, each in its own worker) beside the problem's reference, every figure verified."""
    from .evaluate.bench import run_bench
    from .evaluate.sandbox import Limits
    from .report.candidates import write_candidates
    sets = _problem_sets(args, True)
    candidates = []
    for spec in args.candidate:
        path, _, label = spec.partition(":")
        candidates.append((label or os.path.splitext(os.path.basename(path))[0], path))
    if not candidates and args.problem is None:
        candidates = [("lsemish", None)]
    result = run_bench(args.problem, candidates, sets, not args.no_compile, calls=args.calls, budget_s=args.budget,
                       limits=Limits(request_s=args.timeout), log=lambda m: print(m, file=sys.stderr, flush=True))
    result["command"] = "python -m lsemish " + " ".join(sys.argv[1:])
    out = args.out or os.path.join("benchmarks", "results", f"{time.strftime('%Y-%m-%d')}-problem")
    print(write_candidates(result, out))
    return 0


def _grad(args):
    import torch
    from .problems import is_problem_22
    if not is_problem_22(args.problem):
        raise SystemExit("grad: only problem 22 (lsemish.problems.problem22) is supported; "
                         f"{args.problem} has no gradient reference here")
    if not torch.cuda.is_available():
        raise SystemExit("grad needs a CUDA GPU (tests/test_backward.py covers gradients through the interpreter)")
    from .grad_check import run_grad_check
    from .problems.problem22 import HEADLINE
    rows = run_grad_check(args.shape or HEADLINE, args.precision, args.trials, args.dist, args.seed)
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
    result = run_profile(args.candidate, _problem_sets(args, True), args.out, problem=args.problem,
                         timeout=args.timeout)
    print(json.dumps(result, indent=2))
    return 0


def _prompt(args):
    from .problems import source_text
    from .search.prompt import build_prompt, resolve_gpu
    try:
        gpu = resolve_gpu(args.gpu)
    except ValueError as e:
        raise SystemExit(f"prompt: {e}")
    if args.metrics:
        from .search.prompt import load_metrics
        try:
            metrics = load_metrics(args.metrics)
        except ValueError as e:
            raise SystemExit(f"prompt: {e}")
    else:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit("prompt: no GPU here to profile the candidate; pass its metrics with --metrics FILE")
        from .profile import run_profile
        metrics = run_profile(args.candidate, {}, args.out + ".metrics.json" if args.out else "profile.json",
                              log=lambda m: print(m, file=sys.stderr), problem=args.problem)
    code = source_text(args.candidate, "candidate")
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
    """The loop; stopped (Ctrl-C, SIGTERM) it kills its agents and steps and exits 130 at once, its state as the
    last finished step left it (resumable), instead of waiting for the running steps to end."""
    from .search import children
    children.exit_on_signals(f"loop: stopped; its agents and steps killed (resume with the same --out {args.out})")
    return _loop_run(args)


def _loop_run(args):
    from .problems import parse_sets
    from .search.loop import run_loop, run_suite
    common = dict(gpu=args.gpu, stage_file=args.stage, agent_timeout=args.agent_timeout,
                  step_timeout=args.step_timeout, trials=args.trials, call_timeout=args.call_timeout,
                  samples=args.samples, strategy=args.strategy, beam=args.beam,
                  agent_concurrency=args.agent_concurrency, gpus=args.gpus, stages=args.stages,
                  patience=args.patience, workers=args.workers, sets=parse_sets(args.sets), ray=args.ray)
    if args.problems:
        if args.problem or args.candidate:
            raise SystemExit("loop: --problems runs a suite; --problem and --candidate are for one problem "
                             "(use --candidates DIR for a suite's starting code)")
        if args.candidates and not os.path.isdir(args.candidates):
            raise SystemExit(f"loop: --candidates {args.candidates}: not a folder")
        results = run_suite(args.agent, args.rounds, args.problems, out=args.out, candidates=args.candidates,
                            **common)
        from .report.suite import write_report
        try:
            print(write_report(args.out))
        except ValueError as e:
            raise SystemExit(str(e))
        stopped = sorted(name for name, text in results.items() if isinstance(text, str)
                         and text.startswith("stopped:"))
        if stopped:  # each said why above, in its own line; a script must see that they did not run
            print(f"loop: {len(stopped)} of {len(results)} problem(s) stopped before their rounds were done "
                  f"({', '.join(stopped)}): see their lines above", file=sys.stderr)
            return 1
        runs = [os.path.join(args.out, d) for d in sorted(os.listdir(args.out))
                if os.path.exists(os.path.join(args.out, d, "state.json"))]
        failed = [_agent_never_answered(run) for run in runs]
        if runs and all(failed):
            print(f"loop: every agent call of every problem failed ({failed[0]}): check --agent", file=sys.stderr)
            return 1
        return 0
    if args.candidates:
        raise SystemExit("loop: --candidates goes with --problems (a suite); for one problem use --candidate FILE")
    summary = run_loop(args.agent, args.rounds, problem=args.problem, start=args.candidate, out=args.out, **common)
    print(summary)
    failed = _agent_never_answered(args.out)
    if failed:
        print(f"loop: every agent call failed ({failed}): check --agent", file=sys.stderr)
        return 1
    return 0


def _agent_never_answered(out):
    """The first agent failure when the run's every candidate after the start is one (a mistyped --agent made a run
    that exited 0 with nothing in it: a new user's finding, session 12); else None."""
    try:
        with open(os.path.join(out, "state.json")) as fh:
            made = [c for c in json.load(fh).get("candidates", []) if c.get("round", 0) > 0]
    except (OSError, ValueError):
        return None
    statuses = [str(c.get("status", "")) for c in made]
    if statuses and all(st.startswith("agent:") for st in statuses):
        return statuses[0]
    return None


def _report(args):
    from .report.suite import write_report
    try:
        print(write_report(args.dir, args.out))
    except ValueError as e:
        raise SystemExit(str(e))
    return 0


_COMMANDS = {"report": _report, "check": _check, "bench": _bench, "grad": _grad, "profile": _profile, "prompt": _prompt, "loop": _loop}
