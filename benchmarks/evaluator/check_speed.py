"""How long `check` takes on one problem: this checkout's code against an older copy of the package (--old-src, a
src/ folder, e.g. from `git archive`), interleaved in rounds, each run a fresh `python -m lsemish check` process with
the problem's own reference as the candidate (`ModelNew = Model`). Writes OUT (JSON: per run the code, seconds and
verdict; the median seconds of each and their ratio) and prints one line per run.

    PYTHONPATH=src python benchmarks/evaluator/check_speed.py PROBLEM OUT.json --old-src DIR [--set NAME=VALUE ...]
        [--rounds 2] [--trials 1] [--timeout 600]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NEW_SRC = os.path.join(HERE, "..", "..", "src")


def run(src, problem, own, sets, trials, timeout):
    report = own + ".json"
    cmd = [sys.executable, "-m", "lsemish", "check", "--problem", problem, "--candidate", own, "--trials",
           str(trials), "--json", report] + [a for s in sets for a in ("--set", s)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, PYTHONPATH=os.path.abspath(src)))
        seconds, rc = time.perf_counter() - t0, proc.returncode
        verdict = json.load(open(report))["verdict"] if os.path.exists(report) else f"rc {rc}: {proc.stderr[-200:]}"
    except subprocess.TimeoutExpired:
        seconds, verdict = time.perf_counter() - t0, f"no verdict within {timeout} s"
    if os.path.exists(report):
        os.remove(report)
    return round(seconds, 2), verdict


def main():
    p = argparse.ArgumentParser()
    p.add_argument("problem")
    p.add_argument("out")
    p.add_argument("--old-src", required=True)
    p.add_argument("--set", dest="sets", action="append", default=[])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--trials", type=int, default=1)
    p.add_argument("--timeout", type=int, default=600)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="check-speed-")
    own = os.path.join(work, "own_" + os.path.basename(args.problem))
    with open(args.problem) as src, open(own, "w") as dst:
        dst.write(src.read() + "\n\nModelNew = Model\n")
    runs = []
    for r in range(args.rounds):
        for code, src in (("new", NEW_SRC), ("old", args.old_src)):
            seconds, verdict = run(src, args.problem, own, args.sets, args.trials, args.timeout)
            runs.append({"round": r, "code": code, "seconds": seconds, "verdict": verdict})
            print(f"round {r} {code}: {seconds:.1f} s, {verdict}", flush=True)
    med = {c: statistics.median(x["seconds"] for x in runs if x["code"] == c) for c in ("new", "old")}
    import torch
    result = {"problem": os.path.basename(args.problem), "sets": args.sets, "trials": args.trials, "runs": runs,
              "median_seconds": med, "new_over_old": round(med["new"] / med["old"], 3),
              "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
              "cpus": os.cpu_count(), "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join(sys.argv)}
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"median new {med['new']:.1f} s, old {med['old']:.1f} s: {result['new_over_old']:.2f}x")


if __name__ == "__main__":
    main()
