"""How far does the protocol's own cost (bench.calibrate: a timed call's request beyond its events, with a stand-in
model, before any candidate is loaded) spread between worker processes, and does pinning them change it? Several
fresh workers in turn, each calibrated three times before its model is loaded and twice after (the problem's own
Model), unpinned and then pinned (the worker on one CPU, this process on another: sandbox.timing_cpus). CPU or GPU.
Writes worker-spread.json to OUT.

    PYTHONPATH=src python benchmarks/evaluator/worker_spread.py OUT [--device cpu|cuda] [--workers 6] [--calls 60]
"""
import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

import torch

from lsemish.evaluate.bench import calibrate
from lsemish.evaluate.check import start_worker
from lsemish.evaluate.sandbox import Limits, timing_cpus
from lsemish.evaluate.memory import footprint_or_none, output_room
from lsemish.problems import PROBLEM_22, load_problem


def workers(device, count, calls, limits, sets):
    rows, root = [], tempfile.mkdtemp(prefix="lsemish-spread-")
    for k in range(count):
        got = {}

        def before(w):
            got["before"] = [calibrate(w, random.Random(k), device, calls) for _ in range(3)]
        w, why = start_worker(PROBLEM_22, None, sets, 0, device, limits, root, before_load=before,
                              output_bytes=output_room(footprint_or_none(load_problem(PROBLEM_22, sets))))
        if w is None:
            raise SystemExit(f"worker_spread: {why}")
        after = [calibrate(w, random.Random(k), device, calls) for _ in range(2)]
        w.close()
        rows.append({"before_ms": got["before"], "after_ms": after})
        print(f"  worker {k}: before {[round(v, 3) for v in got['before']]}  after {[round(v, 3) for v in after]}",
              flush=True)
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--workers", type=int, default=6)
    p.add_argument("--calls", type=int, default=60)
    args = p.parse_args()
    sets = None if args.device == "cuda" else {"batch_size": 256, "input_size": 512, "hidden_size": 64}
    result = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", "cpus": os.cpu_count(),
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "sets": sets,
              "command": "PYTHONPATH=src python " + " ".join(sys.argv)}
    allowed = os.sched_getaffinity(0)
    print("unpinned", flush=True)
    result["unpinned"] = workers(args.device, args.workers, args.calls, Limits(), sets)
    limits, mine = timing_cpus(Limits())
    if mine is None and len(allowed) >= 2:  # a small machine: one CPU each all the same
        cpus = sorted(allowed)
        limits, mine = Limits(cpus=(cpus[-1],)), cpus[0]
    if mine is not None:
        print(f"pinned: worker on {limits.cpus}, this process on {mine}", flush=True)
        os.sched_setaffinity(0, {mine})
        result["pinned"] = workers(args.device, args.workers, args.calls, limits, sets)
        result["pinned_cpus"] = {"worker": list(limits.cpus), "trusted": mine}
        os.sched_setaffinity(0, allowed)
    for key in ("unpinned", "pinned"):
        if key in result:
            medians = [statistics.median(r["before_ms"]) for r in result[key]]
            result[f"{key}_spread"] = max(medians) / min(medians)
            print(f"{key}: per-worker medians {min(medians):.3f}-{max(medians):.3f} ms ({result[key + '_spread']:.2f}x)")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "worker-spread.json"), "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
