"""lsemish.distributed across the GPUs of one host (NCCL): output against one GPU's, forward and forward+backward
time against one GPU. One process per GPU, started here.

    NCCL_NVLS_ENABLE=0 PYTHONPATH=src python3 benchmarks/multi_gpu.py --gpus 2 --shape 1024,8192,128256 --out r.json
    PYTHONPATH=src python3 benchmarks/multi_gpu.py --cpu --gpus 2 --shape 8,32,50    # gloo + interpreter, no timing

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


def _timed(fn, reps=20):
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3 / reps


def worker(rank, world, store, shape, cpu, out_path):
    import torch.distributed as dist
    if cpu:
        os.environ["TRITON_INTERPRET"] = "1"
    else:
        torch.cuda.set_device(rank)
    dist.init_process_group("gloo" if cpu else "nccl", init_method=f"file://{store}", rank=rank, world_size=world)
    from lsemish import ModelNew, linear_lse_mish
    from lsemish.distributed import ShardedModelNew
    M, K, N = shape
    device = "cpu" if cpu else f"cuda:{rank}"
    torch.manual_seed(0)
    model = ModelNew(K, N, 2.0, -10.0, 10.0).to(device)
    x = torch.rand(M, K, device=device)
    g = torch.randn(M, 1, device=device)
    sharded = ShardedModelNew(model)
    with torch.no_grad():
        out = sharded(x)
    row = {"rank": rank, "rows": sharded.rows[rank]}
    if rank == 0:
        with torch.no_grad():
            single = linear_lse_mish(x, model.matmul.weight, model.matmul.bias, 2.0, -10.0, 10.0)
        row["rel_l2_vs_one_device"] = float((out.double() - single.double()).norm() / single.double().norm())
    if not cpu:
        xs = x.clone().requires_grad_()

        def step(m):
            m.zero_grad(set_to_none=True)
            xs.grad = None
            m(xs).backward(g)

        with torch.no_grad():
            row["forward_ms"] = _timed(lambda: sharded(x))
        row["forward_backward_ms"] = _timed(lambda: step(sharded))
        if rank == 0:
            with torch.no_grad():
                row["one_gpu_forward_ms"] = _timed(lambda: model(x))
            row["one_gpu_forward_backward_ms"] = _timed(lambda: step(model))
    del model
    rows = [None] * world
    dist.all_gather_object(rows, row)
    if rank == 0:
        with open(out_path, "w") as fh:
            json.dump({"world": world, "shape": shape, "device": "cpu (gloo, interpreter)" if cpu else
                       torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, fh, indent=1)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpus", type=int, default=2, help="processes (one GPU each)")
    p.add_argument("--shape", default="1024,8192,128256", help="M,K,N")
    p.add_argument("--cpu", action="store_true", help="gloo on the CPU through the interpreter (a dry run)")
    p.add_argument("--out", default="multi_gpu.json")
    args = p.parse_args()
    os.environ["NCCL_NVLS_ENABLE"] = "0"
    shape = tuple(int(v) for v in args.shape.split(","))
    if not args.cpu and torch.cuda.device_count() < args.gpus:
        sys.exit(f"--gpus {args.gpus}: this machine has {torch.cuda.device_count()} GPU(s)")
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(worker, args=(args.gpus, os.path.join(tmp, "store"), shape, args.cpu, args.out), nprocs=args.gpus)
    print(open(args.out).read())


if __name__ == "__main__":
    main()
