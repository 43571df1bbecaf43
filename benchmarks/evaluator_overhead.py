"""Does the sandboxed evaluator change an honest candidate's figure? lsemish's deliverable timed two ways, in
alternating rounds: in this (trusted) process exactly as KernelBench times it (lsemish.bench.kernelbench_call_ms: the
same inputs every call, L2 flush, events, synchronize), and through evaluate/bench.py (a worker; fresh inputs each
call; checked against this process's clock; outputs sampled). Writes overhead.json to OUT.

    PYTHONPATH=src python benchmarks/evaluator_overhead.py OUT [--shape M,K,N] [--rounds R]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

from lsemish import ModelNew
from lsemish.bench import kernelbench_call_ms
from lsemish.evaluate.bench import run_bench


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--shape", default="1024,8192,8192")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    M, K, N = map(int, args.shape.split(","))
    torch.manual_seed(0)
    model = ModelNew(K, N, 2.0, -10.0, 10.0).cuda()
    x = torch.rand(M, K, device="cuda")
    rows = []
    for r in range(args.rounds):
        with torch.no_grad():
            inproc = kernelbench_call_ms(lambda: model(x), trials=100)

            def after_idle():  # the same, with the GPU idle for 40 ms before each call (get_inputs() on the CPU)
                torch.cuda.synchronize()
                time.sleep(0.04)
                model(x)
            idle = kernelbench_call_ms(after_idle, trials=30)
        res = run_bench(None, [("lsemish", None)], {"batch_size": M, "input_size": K, "hidden_size": N},
                        with_compile=False, calls=30, rounds=1, log=lambda m: None)
        row = {r_["name"]: r_ for r_ in res["rows"]}
        rows.append({"in_process_call_ms": inproc, "in_process_after_40ms_idle_call_ms": idle, "worker_call_ms": row["lsemish"]["call_ms"],
                     "worker_wall_ms": row["lsemish"]["wall_ms"], "worker_gpu_ms": row["lsemish"].get("gpu_ms"),
                     "eager_worker_call_ms": row["reference-eager"]["call_ms"]})
        print(rows[-1], flush=True)
    ratio = statistics.median(r["worker_call_ms"] / r["in_process_call_ms"] for r in rows)
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
           "command": "PYTHONPATH=src python " + " ".join(sys.argv), "shape": [M, K, N], "rounds": rows,
           "median_worker_over_in_process": ratio}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "overhead.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"worker / in-process per-call latency: {ratio:.3f}")


if __name__ == "__main__":
    main()
