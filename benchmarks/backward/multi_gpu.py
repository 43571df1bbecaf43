"""lsemish.distributed across the GPUs of one host (NCCL): output against one GPU's, forward and forward+backward
time against one GPU, interleaved in the same processes, per shape. One process per GPU, started here.

    PYTHONPATH=src python3 benchmarks/backward/multi_gpu.py --gpus 2 --out multi-gpu-2.json
        [--shapes "4096,8192,50257;1024,8192,128256;16,8192,128256"] [--rounds 3] [--reps 10]
    PYTHONPATH=src python3 benchmarks/backward/multi_gpu.py --cpu --gpus 2 --shapes 8,32,50  # gloo + interpreter, no timing

--trace DIR: after the timings, every rank records three sharded forward calls and one forward + backward per shape
with torch.profiler (CPU and CUDA activity) and writes DIR/trace-MxKxN-rankR.json.gz (chrome://tracing, Perfetto) and
the op table DIR/ops-MxKxN-rankR.txt: where a two-GPU call spends its time, rank by rank.

NVLink multicast stays off (NCCL_NVLS_ENABLE=0 is set for the workers whatever the caller's environment says).
"""
import argparse
import json
import os
import sys
import tempfile
import time

import torch
import torch.multiprocessing as mp


def _queued_ms(fn, reps):
    """Wall time per call of `reps` calls issued back to back, then a synchronize: the throughput figure."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3 / reps


def _per_call_ms(fn, reps):
    """Median wall time of one call followed by a synchronize (KernelBench's per-call latency, host included)."""
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def _measure(rank, dist, sharded, model, x, g, rounds, reps):
    """One- and two-GPU figures interleaved round by round in these processes: every rank runs the sharded op
    together; then rank 0 alone runs the whole op (the others wait at a barrier). Medians over rounds."""
    xs = x.clone().requires_grad_()

    def step(m):
        m.zero_grad(set_to_none=True)
        xs.grad = None
        m(xs).backward(g)

    def sharded_forward():
        with torch.no_grad():
            sharded(x)

    def whole_forward():
        with torch.no_grad():
            model(x)
    figures = {}
    for _ in range(rounds):
        for name, fn in (("forward", sharded_forward), ("forward_backward", lambda: step(sharded))):
            fn()
            figures.setdefault(f"{name}_ms", []).append(_queued_ms(fn, reps))
            figures.setdefault(f"{name}_call_ms", []).append(_per_call_ms(fn, reps))
        dist.barrier()
        if rank == 0:
            for name, fn in (("forward", whole_forward), ("forward_backward", lambda: step(model))):
                fn()
                figures.setdefault(f"one_gpu_{name}_ms", []).append(_queued_ms(fn, reps))
                figures.setdefault(f"one_gpu_{name}_call_ms", []).append(_per_call_ms(fn, reps))
        dist.barrier()
    return {k: sorted(v)[len(v) // 2] for k, v in figures.items()}


def _trace(rank, dist, sharded, x, g, folder, shape):
    """torch.profiler over three sharded forward calls and one forward + backward on every rank at once."""
    import gzip
    from torch.profiler import ProfilerActivity, profile
    xs = x.clone().requires_grad_()
    dist.barrier()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            with torch.no_grad():
                sharded(x)
        torch.cuda.synchronize()
        sharded.zero_grad(set_to_none=True)  # as the timed steps: no add into gradients left by them (multi-gpu-2)
        sharded(xs).backward(g)
        torch.cuda.synchronize()
    name = f"{'x'.join(map(str, shape))}-rank{rank}"
    raw = os.path.join(folder, f"trace-{name}.json")
    prof.export_chrome_trace(raw)
    with open(raw, "rb") as src, gzip.open(raw + ".gz", "wb") as dst:
        dst.write(src.read())
    os.remove(raw)
    with open(os.path.join(folder, f"ops-{name}.txt"), "w") as fh:
        fh.write(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25))


def worker(rank, world, store, shapes, cpu, out_path, rounds, reps, trace=None):
    import torch.distributed as dist
    if cpu:
        os.environ["TRITON_INTERPRET"] = "1"
    else:
        torch.cuda.set_device(rank)
    dist.init_process_group("gloo" if cpu else "nccl", init_method=f"file://{store}", rank=rank, world_size=world)
    from lsemish import ModelNew, linear_lse_mish
    from lsemish.distributed import ShardedModelNew
    from lsemish.problems.problem22 import CONSTANTS, init_inputs
    device = "cpu" if cpu else f"cuda:{rank}"
    results = []
    for M, K, N in shapes:
        torch.manual_seed(0)
        model = ModelNew(*init_inputs(K, N)).to(device)
        x = torch.rand(M, K, device=device)
        g = torch.randn(M, 1, device=device)
        sharded = ShardedModelNew(model)
        with torch.no_grad():
            out = sharded(x)
        row = {"shape": [M, K, N], "rank": rank, "rows": sharded.rows[rank]}
        if rank == 0:
            with torch.no_grad():
                single = linear_lse_mish(x, model.matmul.weight, model.matmul.bias, *CONSTANTS)
            row["rel_l2_vs_one_device"] = float((out.double() - single.double()).norm() / single.double().norm())
        if not cpu:
            row.update(_measure(rank, dist, sharded, model, x, g, rounds, reps))
            if rank == 0:
                for name in ("forward", "forward_backward"):
                    row[f"{name}_over_one_gpu"] = row[f"{name}_ms"] / row[f"one_gpu_{name}_ms"]
                print(json.dumps(row), flush=True)
            if trace:
                _trace(rank, dist, sharded, x, g, trace, (M, K, N))
        del model, sharded
        if not cpu:
            torch.cuda.empty_cache()
        rows = [None] * world
        dist.all_gather_object(rows, row)
        results.append(rows)
    if rank == 0:
        with open(out_path, "w") as fh:
            json.dump({"world": world, "device": "cpu (gloo, interpreter)" if cpu else torch.cuda.get_device_name(),
                       "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
                       "note": "*_ms: calls back to back, then a synchronize (per call); *_call_ms: median of one "
                               "call then a synchronize (per-call latency); one- and two-GPU figures interleaved "
                               "round by round in the same processes, medians over rounds",
                       "shapes": results}, fh, indent=1)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpus", type=int, default=2, help="processes (one GPU each)")
    p.add_argument("--shapes", default="4096,8192,50257;1024,8192,128256;16,8192,128256", help="M,K,N;...")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--cpu", action="store_true", help="gloo on the CPU through the interpreter (a dry run)")
    p.add_argument("--out", default="multi-gpu-2.json")
    p.add_argument("--trace", default=None, help="a folder: torch.profiler traces of every rank, per shape")
    args = p.parse_args()
    if args.trace and args.cpu:
        sys.exit("--trace needs GPUs (it records CUDA activity); leave out --cpu")
    if args.trace:
        os.makedirs(args.trace, exist_ok=True)
    os.environ["NCCL_NVLS_ENABLE"] = "0"
    shapes = [tuple(int(v) for v in shape.split(",")) for shape in args.shapes.split(";")]
    if not args.cpu and torch.cuda.device_count() < args.gpus:
        sys.exit(f"--gpus {args.gpus}: this machine has {torch.cuda.device_count()} GPU(s)")
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(worker, args=(args.gpus, os.path.join(tmp, "store"), shapes, args.cpu, args.out, args.rounds,
                               args.reps, args.trace), nprocs=args.gpus)
    print(open(args.out).read())


if __name__ == "__main__":
    main()
