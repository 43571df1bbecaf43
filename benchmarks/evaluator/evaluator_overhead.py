"""Does the sandboxed evaluator change an honest candidate's figure, and why? lsemish's deliverable timed in this
(trusted) process exactly as KernelBench times it (lsemish.bench.kernelbench_call_ms: the same inputs every call,
L2 flush, events, synchronize), in variants that each add one thing a worker's call has and KernelBench's
back-to-back loop has not, and through evaluate/bench.py (a worker; fresh inputs each call; checked against this
process's clock less the reference's overhead; every call's outputs committed, a sample compared).
Rounds alternate; writes overhead.json to OUT.

Through a worker: the protocol as it is (session 11: a block's calls one request each, back to back, one commitment
after them); with each contender's own cost of the protocol on the trusted clock (a call's request beyond its
events, the commitment per call), and the deliverable a second time in a worker of its own (a twin: how far that
cost spreads between two workers running the same code, the room the bound on a candidate's must leave).

In-process variants, before each timed trial (outside its events; with --all also those of session 9):
  back-to-back   nothing (KernelBench)
  fresh-inputs   new values as get_inputs() makes them (on the CPU), copied into the same input tensor, synchronize
  fresh+busy     the same, then ~1 ms of fills on the GPU, synchronize
  gpu-idle       synchronize, then 30 ms of a busy-waiting host (the GPU idle, the host's caches kept)
  host-churn     get_inputs()'s host work while the GPU is busy with 30 ms of fills, synchronize (host caches
                 churned, the GPU busy until just before)
  worker-like    one call on the last inputs, new values drawn on the GPU into the same tensor, synchronize
  device-fresh   new values drawn on the GPU into the same tensor, synchronize (what the worker does in the
                 request that times a call)
  gc+device-fresh         gc.collect() first (what the worker's settle request does before the call)
  integrity+device-fresh  the worker's scan of torch's namespaces first (the other half of settle)
  frozen-gc+device-fresh  gc.collect() then gc.freeze() first (the worker's settle since session 10)

    PYTHONPATH=src python benchmarks/evaluator/evaluator_overhead.py OUT [--shape M,K,N] [--rounds R]
"""
import argparse
import gc
import json
import os
import statistics
import sys
import time

import torch

from lsemish import ModelNew
from lsemish.bench import _l2_flush_buffer, kernelbench_call_ms
from lsemish.evaluate import bench as worker_bench
from lsemish.evaluate.worker import Integrity
from lsemish.problems.problem22 import init_inputs


def fills(buf, ms, each_ms):
    for _ in range(max(1, int(ms / each_ms))):
        buf.fill_(1.0)


def worker_figures(M, K, N):
    """One round through evaluate/bench.py: the deliverable, its twin in a second worker (the spread of the
    protocol's cost between workers running the same code) and the eager reference; "worker*" keys."""
    res = worker_bench.run_bench(None, [("lsemish", None), ("lsemish-twin", None)],
                                 {"batch_size": M, "input_size": K, "hidden_size": N},
                                 with_compile=False, calls=30, rounds=1, log=lambda m: None)
    by = {r_["name"]: r_ for r_ in res["rows"]}
    ours, twin, eager = by["lsemish"], by["lsemish-twin"], by["reference-eager"]
    if ours.get("rejected"):
        return {"worker:rejected": ours["rejected"]}
    row = {"worker": ours["call_ms"], "worker:median": ours["call_median_ms"],
           "worker:wall": ours["wall_ms"], "worker:gpu": ours.get("gpu_ms"),
           "worker:eager": eager["call_ms"], "worker:twin": twin.get("call_ms"),
           "worker:twin_rejected": twin.get("rejected")}
    for label, r_ in (("", ours), (":twin", twin), (":eager", eager)):  # the protocol's own cost, trusted clock
        row[f"worker{label}:overhead"] = r_.get("overhead_ms")
        row[f"worker{label}:commit"] = r_.get("commit_ms")
        row[f"worker{label}:ping"] = r_.get("ping_ms")
        row[f"worker{label}:steps"] = r_.get("worker_steps_ms")
        row[f"worker{label}:host"] = r_.get("worker_host_ms")
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--shape", default="1024,8192,8192")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--all", action="store_true", help="also the variants with inputs made on the CPU (session 9)")
    args = p.parse_args()
    M, K, N = map(int, args.shape.split(","))
    torch.manual_seed(0)
    model = ModelNew(*init_inputs(K, N)).cuda()
    x = torch.rand(M, K, device="cuda")
    flush = _l2_flush_buffer()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record(); flush.fill_(1.0); end.record(); torch.cuda.synchronize()
    fill_ms = start.elapsed_time(end)

    def fresh():
        x.copy_(torch.rand(M, K))

    def spin(ms):
        t = time.perf_counter() + ms / 1e3
        while time.perf_counter() < t:
            pass

    def before(kind):
        if kind == "fresh-inputs":
            fresh(); torch.cuda.synchronize()
        elif kind == "fresh+busy":
            fresh(); fills(flush, 1.0, fill_ms); torch.cuda.synchronize()
        elif kind == "gpu-idle":
            torch.cuda.synchronize(); spin(30)
        elif kind == "host-churn":
            fills(flush, 30, fill_ms); torch.rand(M, K); torch.cuda.synchronize()
        elif kind == "worker-like":
            model(x); x.copy_(torch.rand(M, K, device="cuda")); torch.cuda.synchronize()
        elif kind == "device-fresh":
            x.copy_(torch.rand(M, K, device="cuda")); torch.cuda.synchronize()
        elif kind == "gc+device-fresh":
            gc.collect(); x.copy_(torch.rand(M, K, device="cuda")); torch.cuda.synchronize()
        elif kind == "frozen-gc+device-fresh":  # what the worker's settle does since session 10
            gc.collect(); gc.freeze(); x.copy_(torch.rand(M, K, device="cuda")); torch.cuda.synchronize()
        elif kind == "integrity+device-fresh":
            integrity.replaced(); x.copy_(torch.rand(M, K, device="cuda")); torch.cuda.synchronize()

    def timed(kind, trials):  # kernelbench_call_ms's loop with `before` outside the events
        for _ in range(3):
            model(x)
        times = []
        for _ in range(trials):
            before(kind)
            flush.fill_(1.0)
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record(); model(x); e.record(); torch.cuda.synchronize()
            times.append(s.elapsed_time(e))
        return sum(times[1:]) / (len(times) - 1)

    integrity = Integrity()
    kinds = ["device-fresh", "gc+device-fresh", "integrity+device-fresh"] + \
        (["fresh-inputs", "fresh+busy", "gpu-idle", "host-churn", "worker-like"] if args.all else []) + \
        ["frozen-gc+device-fresh"]  # last: it freezes this process's objects until the round ends
    rows = []
    for r in range(args.rounds):
        row = {}
        with torch.no_grad():
            row["in_process:back-to-back"] = kernelbench_call_ms(lambda: model(x), trials=100)
            for kind in kinds:
                row[f"in_process:{kind}"] = timed(kind, 30)
            gc.unfreeze()
        row.update(worker_figures(M, K, N))
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = "in_process:back-to-back"
    ratios = {k: statistics.median(r[k] / r[base] for r in rows if k in r) for k in rows[0]
              if k == "worker" or k.startswith("in_process")}
    ratios.update({f"{k} / in_process:device-fresh": statistics.median(r[k] / r["in_process:device-fresh"]
                                                                       for r in rows if k in r)
                   for k in ("worker",) if k in rows[0]})
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
           "command": "PYTHONPATH=src python " + " ".join(sys.argv), "shape": [M, K, N], "fill_ms": fill_ms,
           "rounds": rows, "median_over_back_to_back": ratios}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "overhead.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    for k, v in ratios.items():
        print(f"{k:32s} {v:.3f} x back-to-back")


if __name__ == "__main__":
    main()
