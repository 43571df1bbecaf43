"""Session 22 diagnosis (#25): does a worker's host work slow down once a Triton kernel was compiled and launched in
it? One process pinned to one CPU (as a timed worker is), a request-like sequence (inputs made on the GPU, copies
and a synchronize, the L2 flush queued, events around the call, a synchronize, an equality check), timed with a torch
stand-in before, then after compiling and launching softplus's Triton kernel, then with that kernel as the call.
Then the same under a worker's collector regime (off during the request but for the call; with the young generation
collected before the flush). Prints JSON lines: phase, median wall ms per request, events ms, the call's host launch
ms, native thread count."""
import gc
import json
import os
import statistics
import sys
import time

cpu = int(sys.argv[1]) if len(sys.argv) > 1 else sorted(os.sched_getaffinity(0))[-1]
os.sched_setaffinity(0, {cpu})
import torch  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402


@triton.jit
def softplus_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    y = tl.maximum(x, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(x)))
    tl.store(y_ptr + offs, tl.where(x > 20.0, x, y), mask=offs < n)


def triton_softplus(x):
    y = torch.empty_like(x)
    softplus_kernel[(triton.cdiv(x.numel(), 1024),)](x, y, x.numel(), BLOCK=1024)
    return y


flush = torch.empty(256 * 2**20 // 4, device="cuda")


def threads():
    return len(os.listdir("/proc/self/task"))


def requests(call, n=60, regime="plain"):
    """regime: plain (the collector on throughout), worker (off but for the call, as a worker's timed request),
    worker+collect (the same, with the young generation collected before the flush)."""
    walls, events, launch = [], [], []
    kept = []
    for i in range(n):
        if regime != "plain":
            gc.disable()
        t0 = time.perf_counter()
        kept.append([{"call": i, "steps": [0.0] * 5} for _ in range(40)])  # a request's own Python objects
        g = torch.Generator(device="cuda").manual_seed(i)
        x = torch.randn(512, 4096, device="cuda", generator=g) * 40
        before = x.clone()
        torch.cuda.synchronize()
        if regime == "worker+collect":
            gc.collect(0)
        flush.fill_(1.0)
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        t1 = time.perf_counter()
        if regime != "plain":
            gc.enable()
        y = call(x)
        if regime != "plain":
            gc.disable()
        t2 = time.perf_counter()
        e.record()
        torch.cuda.synchronize()
        ok = torch.equal(x, before)
        walls.append((time.perf_counter() - t0) * 1e3)
        events.append(s.elapsed_time(e))
        launch.append((t2 - t1) * 1e3)
        assert ok and y.shape == x.shape
    gc.enable()
    half = n // 3
    return {"wall_ms": statistics.median(walls[half:]), "events_ms": statistics.median(events[half:]),
            "launch_ms": statistics.median(launch[half:]), "threads": threads()}


def report(phase, r):
    print(json.dumps({"phase": phase, "cpu": cpu, **{k: round(v, 4) if isinstance(v, float) else v
                                                      for k, v in r.items()}}), flush=True)


stand_in = torch.nn.functional.softplus
report("stand-in, fresh", requests(stand_in))
report("stand-in, again", requests(stand_in))
t = time.perf_counter()
triton_softplus(torch.randn(512, 4096, device="cuda"))
torch.cuda.synchronize()
print(json.dumps({"phase": "triton compile+first launch", "s": round(time.perf_counter() - t, 2),
                  "threads": threads()}), flush=True)
report("stand-in, after triton kernel", requests(stand_in))
report("triton kernel", requests(triton_softplus))
report("stand-in, after triton calls", requests(stand_in))
time.sleep(2)
report("stand-in, 2 s later", requests(stand_in))
report("triton kernel, 2 s later", requests(triton_softplus))
for rnd in range(2):
    for regime in ("plain", "worker", "worker+collect"):
        for name, fn in (("stand-in", stand_in), ("triton kernel", triton_softplus)):
            report(f"{name}, {regime} collector, round {rnd}", requests(fn, 90, regime))
