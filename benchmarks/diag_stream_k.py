"""Why is the stream-K schedule slow? Kernel time (CUDA-graph replays, interleaved) of the TMA forward under
schedule variants, at a few shapes:

    dp          one tile per program (_tf32_lse_mish_kernel; STREAM_K off)
    persistent  the stream-K kernel with no stream-K tiles: one program per SM walking whole tiles
    sk          the shipped rule (_stream_k)
    sk_all      every tile in the stream-K region

    PYTHONPATH=src python3 benchmarks/diag_stream_k.py time OUT.json
    PYTHONPATH=src python3 benchmarks/diag_stream_k.py one VARIANT M K N   (one forward, e.g. under ncu)

Runs against the module of commit 6f9808f (the stream-K kernel was measured slower and removed after it; results in
benchmarks/results/2026-11-24-NVIDIA-H100-80GB-HBM3/session7/stream-k/).
"""
import sys

import torch
from graph_timing import interleaved_ms, problem, write_json

import lsemish.model_new as mn

SHAPES = [(333, 1000, 3000), (1024, 8192, 8192), (8192, 8192, 8192)]
REAL = mn._stream_k


def variant(name):
    table = mn._TF32_TMA_CONFIGS["sm90"]
    table["STREAM_K"] = name != "dp"
    mn._stream_k = {"dp": REAL, "sk": REAL,
                    "persistent": lambda tiles, steps, sms: (min(sms, tiles), 0),
                    "sk_all": lambda tiles, steps, sms: (min(sms, tiles * steps), tiles)}[name]
    mn._TMA_PLANS.clear()


def run(x, w, b):
    return mn.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0)


def main_time(out_path):
    rows = []
    for M, K, N in SHAPES:
        x, w, b, _ = problem(M, K, N)
        times = {name: [] for name in ("dp", "persistent", "sk", "sk_all")}
        for _ in range(2):
            for name in times:
                variant(name)
                times[name].append(interleaved_ms({name: lambda: run(x, w, b)}, rounds=1)[name])
        ms = {name: min(t) for name, t in times.items()}
        print(f"{M}x{K}x{N} " + "  ".join(f"{n} {v:.4f} ms ({v / ms['dp']:.3f}x dp)" for n, v in ms.items()),
              flush=True)
        rows.append({"M": M, "K": K, "N": N, **{f"{n}_ms": v for n, v in ms.items()}})
    write_json(out_path, "kernel time of CUDA-graph replays, variants alternated twice, best of the two", rows)


def main_one(name, M, K, N):
    x, w, b, _ = problem(M, K, N)
    variant(name)
    run(x, w, b)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    run(x, w, b)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()


if __name__ == "__main__":
    torch.backends.cuda.matmul.allow_tf32 = True
    if sys.argv[1] == "time":
        main_time(sys.argv[2])
    else:
        main_one(sys.argv[2], *map(int, sys.argv[3:6]))
