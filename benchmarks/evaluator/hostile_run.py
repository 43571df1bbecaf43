"""The hostile set (tests/hostile/) through `check` and `bench` on a GPU, next to the honest deliverable.

Each hostile candidate is composed onto lsemish's own deliverable (tests/hostile_set.py), checked (KernelBench's
protocol, the reuse probe and the other distributions), and timed beside the reference and the honest deliverable
(evaluate/bench.py: every timed call on fresh inputs, cross-checked against the trusted clock, outputs sampled).
Writes hostile.json and hostile.md to OUT: per candidate, the check verdict and reason, the bench verdict and reason,
and whether any file appeared outside its scratch folder.

    PYTHONPATH=src python benchmarks/evaluator/hostile_run.py OUT [--shape M,K,N] [--calls N] [--only NAME,...]
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # the repository
sys.path.insert(0, os.path.join(ROOT, "tests"))

import hostile_set  # noqa: E402
import torch  # noqa: E402

from lsemish import deliverable_source  # noqa: E402
from lsemish.evaluate.bench import run_bench  # noqa: E402
from lsemish.evaluate.check import run_check  # noqa: E402
from lsemish.evaluate.sandbox import Limits  # noqa: E402


def planted_files():
    """HOSTILE_WAS_HERE files anywhere a hostile candidate might have reached."""
    roots = [ROOT, os.path.expanduser("~"), tempfile.gettempdir(), os.getcwd(),
             os.path.dirname(torch.__file__)]
    found = set()
    for root in roots:
        found |= set(glob.glob(os.path.join(root, "**", "HOSTILE_WAS_HERE"), recursive=True))
    return sorted(found)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--shape", default="1024,8192,8192")
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--only", default="")
    p.add_argument("--no-check", action="store_true", help="bench only (the checks' verdicts come from another run)")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    M, K, N = map(int, args.shape.split(","))
    sets = {"batch_size": M, "input_size": K, "hidden_size": N}
    work = tempfile.mkdtemp(prefix="hostile-")
    names = [n for n in hostile_set.NAMES if not args.only or n in args.only.split(",")]
    # One Triton cache for all: every candidate here is our own (the set is composed onto our deliverable), and
    # compiling its kernels afresh in each of ~36 workers would take most of the run.
    limits = Limits(request_s=20, triton_cache=os.path.join(work, "triton-cache"))
    rows = []
    before = planted_files()
    source = deliverable_source()
    paths = {n: hostile_set.compose(n, source, os.path.join(work, f"{n}.py")) for n in names}
    for n in names:
        if args.no_check:
            rows.append({"name": n, "expect": hostile_set.expected(n), "check": "—", "check_reason": ""})
            continue
        t0 = time.time()
        r = run_check(None, paths[n], sets, trials=1, limits=limits, log=lambda m: None)
        rows.append({"name": n, "expect": hostile_set.expected(n), "check": r["verdict"],
                     "check_reason": r["reason"], "check_summary": r["summary"], "check_s": round(time.time() - t0, 1),
                     "landlock": r["landlock"]})
        print(f"check {n:18s} {r['verdict']:5s} {r['reason']}", flush=True)
        with open(os.path.join(args.out, "hostile-checks.json"), "w") as fh:
            json.dump(rows, fh, indent=1)
    timed = [("honest", None)] + [(n, paths[n]) for n in names if n not in ("hang", "flood")]
    result = run_bench(None, timed, sets, with_compile=False, calls=args.calls, rounds=2, budget_s=90,
                       limits=limits, log=lambda m: print(m, flush=True))
    by = {r["name"]: r for r in result["rows"]}
    for row in rows:
        b = by.get(row["name"])
        if b:
            row.update(bench="rejected" if b.get("rejected") else "timed", bench_reason=b.get("rejected"),
                       call_ms=b.get("call_ms"), wall_ms=b.get("wall_ms"), gpu_ms=b.get("gpu_ms"),
                       events_call_ms=b.get("events_call_ms"), work_ms=b.get("work_ms"),
                       floor_ms=b.get("floor_ms"), raised_to_work=b.get("raised_to_work", False))
    after = planted_files()
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
           "command": "PYTHONPATH=src python " + " ".join(sys.argv), "shape": [M, K, N], "rows": rows,
           "bench": result, "files_planted": sorted(set(after) - set(before))}
    with open(os.path.join(args.out, "hostile.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    lines = [f"{out['device']}; torch {out['torch']}; {out['date']}; `{out['command']}`", "",
             "| candidate | expected | check | check reason | bench | bench reason / per-call ms |", "|---|---|---|---|---|---|"]
    for r in [{"name": "honest", "expect": ["pass"], "check": "—", "check_reason": ""}] + rows:
        b = by.get(r["name"], {})
        timing = b.get("rejected") or (f"{b['call_ms']:.4f} ms (wall {b['wall_ms']:.4f}, x eager "
                                       f"{b.get('x_eager', float('nan')):.3f}"
                                       + (f"; raised to its work: it read {b['events_call_ms']:.4f}"
                                          if b.get("raised_to_work") else "") + ")" if "call_ms" in b else "—")
        lines.append(f"| {r['name']} | {' / '.join(r['expect'])} | {r['check']} | {(r['check_reason'] or '')[:160]} | "
                     f"{'rejected' if b.get('rejected') else ('timed' if b else '—')} | {timing[:200]} |")
    lines += ["", f"Files planted outside scratch folders: {out['files_planted'] or 'none'}"]
    with open(os.path.join(args.out, "hostile.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
