"""Every official KernelBench problem through `check`, each with its own reference as the candidate (`ModelNew = Model`
appended to a copy of the problem file): every verdict should be PASS, or one line naming the memory it needs.

KernelBench is not vendored: fetch ScalingIntelligence/KernelBench (the search tool's `fetch`, or git clone) and pass
its KernelBench/ folder. Each problem runs as `python -m lsemish check --problem P --candidate OWN --trials T --json`
in a child process (several at once with --jobs; on one GPU they share it), with a wall-clock limit; per problem the
verdict, the first line of any error, the seconds it took and the peak memory of the check's two processes (the GPU
allocator's on a GPU; the worker's as it reports it) go to OUT/official.jsonl,
and a table to OUT/official.md. --estimate-only instead writes what each check would need (evaluate/memory.py) against
what this machine has, without running anything.

With --gpus N, checks are placed on the GPUs by the memory each needs (MemoryBudget), --jobs at most at once.

    PYTHONPATH=src python benchmarks/evaluator/official_problems.py KB_DIR OUT [--levels 1,2] [--jobs 4] [--trials 1]
        [--gpus N [--gpu-budget 0.8]] [--deadline S [--resume]] [--only SUBSTR,...]
        [--sample benchmarks/evaluator/official_cpu_sample.json]
"""
import argparse
import concurrent.futures as cf
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

from lsemish.search.pool import visible_gpus


def problems(root, levels):
    out = []
    for level in levels:
        folder = os.path.join(root, f"level{level}")
        out += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".py")]
    return out


def name_of(path):
    """A problem's name in the rows: its path under KernelBench's folder ("level1/19_ReLU.py")."""
    return os.path.relpath(path, os.path.dirname(os.path.dirname(path)))


def run_one(path, trials, timeout, work, deadline=None, gpu=None, sets=None):
    if deadline is not None and time.time() + 5 > deadline:
        return {"problem": name_of(path), "rc": None, "seconds": 0,
                "traceback": False, "verdict": "not run", "reason": "the run's --deadline came first"}
    own = os.path.join(work, f"own_{os.path.basename(os.path.dirname(path))}_{os.path.basename(path)}")
    with open(path) as src, open(own, "w") as dst:
        dst.write(src.read() + "\n\nModelNew = Model\n")
    report = own + ".json"
    t0 = time.time()
    cmd = [sys.executable, "-m", "lsemish", "check", "--problem", path, "--candidate", own, "--trials", str(trials),
           "--json", report] + [arg for k, v in (sets or {}).items() for arg in ("--set", f"{k}={v}")]
    try:
        visible = visible_gpus()  # GPU k of this process, by the caller's names (as the loop's slots)
        env = dict(os.environ, **({"CUDA_VISIBLE_DEVICES": visible[gpu] if visible else str(gpu)}
                                  if gpu is not None else {}))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = None, "", f"no verdict within {timeout} s"
    row = {"problem": name_of(path), "rc": rc,
           "seconds": round(time.time() - t0, 1), "traceback": "Traceback" in out + err, "sets": sets or {}}
    if os.path.exists(report):
        with open(report) as fh:
            data = json.load(fh)
        row.update(verdict=data["verdict"], reason=data["reason"], summary=data["summary"])
        peaks = data.get("peak_bytes") or {}
        row["peak_gib"] = {k: None if v is None else round(v / 2**30, 2) for k, v in peaks.items()}
    else:
        row.update(verdict="no verdict", reason=(err.strip().splitlines() or out.strip().splitlines() or [""])[-1])
    return row


class MemoryBudget:
    """Checks placed on GPUs by the memory each needs (evaluate/memory.check_needs), not by a count of jobs: a check
    starts on the GPU with the most budget left once that covers its need; one that needs more than a whole GPU's
    budget waits for an idle GPU and has it alone (its own check then runs or says in one line that it does not fit).
    Needs unknown (the meta device could not run the problem) count as a whole GPU."""

    def __init__(self, gpus, budget):
        self.budget, self.left = budget, {g: budget for g in gpus}
        self.cv = threading.Condition()

    def take(self, need):
        need = self.budget if need is None else min(need, self.budget)
        with self.cv:
            while True:
                gpu = max(self.left, key=lambda g: (self.left[g], -g))
                if self.left[gpu] >= need:
                    self.left[gpu] -= need
                    return gpu, need
                self.cv.wait()

    def give(self, gpu, need):
        with self.cv:
            self.left[gpu] += need
            self.cv.notify_all()


def memory_verdict(row):
    """A verdict that may be the neighbours' doing: out of memory, with other checks on the GPU."""
    return row["verdict"] != "pass" and any(w in (row.get("reason") or "") for w in ("memory", "GiB free"))


def run_placed(budget, need, run):
    """run(gpu) on a GPU of `budget` with room for `need`; a memory verdict from a GPU it shared is run again at once
    with a GPU to itself, its first verdict kept as alone_after (at the end of the run, as before, two such reruns
    were cut by the deadline: session 17)."""
    gpu, held = budget.take(need)
    try:
        row = dict(run(gpu), gpu=gpu)
    finally:
        budget.give(gpu, held)
    if not (memory_verdict(row) and held < budget.budget):
        return row
    gpu, held = budget.take(None)
    try:
        again = dict(run(gpu), gpu=gpu)
    finally:
        budget.give(gpu, held)
    again["alone_after"] = f"{row['verdict']}: {row.get('reason') or ''}"
    return again


def estimate(path, sets=None):
    import torch

    from lsemish.evaluate.memory import available, check_needs, footprint
    from lsemish.problems import ProblemError, load_problem
    try:
        problem = load_problem(path, sets)
        size = footprint(problem)
    except (ProblemError, Exception) as e:  # a problem the meta device cannot run: said per problem
        return {"problem": path, "error": f"{type(e).__name__}: {str(e)[:200]}"}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    have, where = available(device)
    need = check_needs(size)
    return {"problem": path, "need_bytes": need, "need_gib": need / 2**30, "have_gib": have / 2**30,
            "fits": need <= have,
            "inputs_gib": size["inputs"] / 2**30, "outputs_gib": None if size["outputs"] is None
            else size["outputs"] / 2**30, "where": where}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kb_dir", help="KernelBench's KernelBench/ folder (holding level1/, level2/)")
    p.add_argument("out")
    p.add_argument("--levels", default="1,2")
    p.add_argument("--jobs", type=int, default=4)
    p.add_argument("--trials", type=int, default=1)
    p.add_argument("--timeout", type=int, default=300)
    p.add_argument("--estimate-only", action="store_true")
    p.add_argument("--only", default="", help="comma-separated substrings: only problems whose path holds one")
    p.add_argument("--gpus", type=int, default=0, help="spread the checks over this many GPUs by the memory each "
                   "needs (0: as the environment has them, jobs by count)")
    p.add_argument("--gpu-budget", type=float, default=0.8, help="with --gpus: the share of a GPU's memory that "
                   "the checks placed on it may need together")
    p.add_argument("--deadline", type=float, default=None, help="seconds: start no problem after this")
    p.add_argument("--resume", action="store_true", help="keep OUT/official.jsonl's pass and fail verdicts and run the "
                   "other problems (not run, no verdict within --timeout, out of memory beside others): a run cut by "
                   "--deadline, continued in a later call")
    p.add_argument("--sample", default=None, help="a JSON file {problem path under KB_DIR: {size: value}}: only those "
                   "problems, each with its sizes set (benchmarks/evaluator/official_cpu_sample.json: a CPU sample "
                   "at small sizes)")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    paths = problems(args.kb_dir, args.levels.split(","))
    sample = {}
    if args.sample:
        with open(args.sample) as fh:
            sample = {os.path.join(args.kb_dir, k): v for k, v in json.load(fh).items() if not k.startswith("_")}
        missing = [k for k in sample if not os.path.exists(k)]
        if missing:
            raise SystemExit(f"--sample names problems not in {args.kb_dir}: {', '.join(missing)}")
        paths = list(sample)
    if args.only:
        paths = [path for path in paths if any(k in path for k in args.only.split(","))]
    if args.estimate_only:
        rows = [estimate(path, sample.get(path)) for path in paths]
        with open(os.path.join(args.out, "estimates.json"), "w") as fh:
            json.dump(rows, fh, indent=1)
        fits = sum(r.get("fits", False) for r in rows)
        errors = [r for r in rows if "error" in r]
        print(f"{len(rows)} problems: {fits} fit here, {len(rows) - fits - len(errors)} do not, {len(errors)} "
              "could not be estimated" + "".join(f"\n  {r['problem']}: {r['error']}" for r in errors))
        return
    work = tempfile.mkdtemp(prefix="official-")
    deadline = time.time() + args.deadline if args.deadline else None
    jsonl = os.path.join(args.out, "official.jsonl")
    kept = {}
    if args.resume and os.path.exists(jsonl):
        with open(jsonl) as fh:
            kept = {r["problem"]: r for r in map(json.loads, fh)}
        kept = {k: r for k, r in kept.items() if r["verdict"] in ("pass", "fail")}  # the last row of each: a verdict
    order = {name_of(path): i for i, path in enumerate(paths)}
    todo = [path for path in paths if name_of(path) not in kept]
    print(f"{len(paths)} problems: {len(kept)} kept from {jsonl}, {len(todo)} to run", flush=True)
    rows = list(kept.values())
    with open(jsonl + ".tmp", "w") as fh:  # the kept rows on disk before anything runs: a call cut now loses none
        fh.writelines(json.dumps(row) + "\n" for row in rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(jsonl + ".tmp", jsonl)
    with cf.ThreadPoolExecutor(args.jobs) as pool, open(jsonl, "a") as log:
        def record(row):
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(f"{row['problem']:70s} {row['verdict']:10s} {row['seconds']:6.1f} s  {row['reason'] or ''}"[:220],
                  flush=True)
        budget = None
        if args.gpus:
            import torch
            budget = MemoryBudget(range(args.gpus), args.gpu_budget * torch.cuda.get_device_properties(0).total_memory)
            # smallest need first: the jobs wait in budget.take(), and twelve waiting behind the large elementwise
            # problems of level 1 left the GPUs to one check each (session 16, call 3). One at a time: the meta
            # device is a process-wide default while a problem is estimated
            needs = {path: estimate(path, sample.get(path)).get("need_bytes") for path in todo}
            todo.sort(key=lambda path: (needs[path] is None, needs[path] or 0))

        def one(path):
            if budget is None:
                return run_one(path, args.trials, args.timeout, work, deadline, sets=sample.get(path))
            need = needs[path]
            return dict(run_placed(budget, need, lambda gpu: run_one(path, args.trials, args.timeout, work, deadline,
                                                                      gpu, sample.get(path))),
                        need_gib=None if need is None else round(need / 2**30, 2))
        for done in cf.as_completed([pool.submit(one, path) for path in todo]):  # each row kept as it ends
            rows.append(done.result())
            record(rows[-1])
        rows.sort(key=lambda r: order.get(r["problem"], len(order)))
        # Several checks at once share one GPU (without --gpus): a memory verdict may be the neighbours' doing. Each
        # is run again, alone, and both verdicts are kept (with --gpus, run_placed did so at once).
        for i, row in enumerate(rows):
            if memory_verdict(row) and "alone_after" not in row and not (deadline and time.time() + 5 > deadline):
                path = os.path.join(args.kb_dir, row["problem"])
                again = run_one(path, args.trials, args.timeout, work, deadline, sets=sample.get(path))
                again["alone_after"] = row["verdict"] + ": " + (row["reason"] or "")
                rows[i] = again
                record(again)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    passed = sum(r["verdict"] == "pass" for r in rows)
    lines = [f"{len(rows)} problems, {passed} pass, {sum(r['traceback'] for r in rows)} with a traceback; "
             f"largest child's peak host memory {peak:.1f} GiB", "",
             "| problem | sizes set | verdict | s | peak GiB (trusted / worker) | reason |",
             "|---|---|---|---|---|---|"] + [
        f"| {r['problem']} | {' '.join(f'{k}={v}' for k, v in r.get('sets', {}).items())} | {r['verdict']} | "
        f"{r['seconds']} | "
        f"{(r.get('peak_gib') or {}).get('trusted', '—')} / {(r.get('peak_gib') or {}).get('worker', '—')} | "
        f"{r['reason'] or ''} |" for r in rows]
    with open(os.path.join(args.out, "official.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(lines[0])


if __name__ == "__main__":
    main()
