"""Next session's diagnosis (#25; written in session 22, not yet run): does a process busy on another CPU slow a
timed worker's host work on its CPU? bench pins every timed worker to the last CPU and itself to the third from last,
where it waits for replies busily; a worker's launch read 3-5x a plain process's on the same CPU (session 22). Here:
one process pinned to the last CPU times a torch launch and a Triton launch per call (nothing else running), then
again while a second process spins on each other CPU in turn. A CPU that slows it shares its core under the
hypervisor (the VM's sysfs reports no siblings). JSON lines: spinner CPU (none: alone), us per launch.

    PYTHONPATH=src python diag_cpu_neighbours.py
"""
import json
import multiprocessing as mp
import os
import time


def spin(cpu, stop):
    os.sched_setaffinity(0, {cpu})
    while not stop.is_set():
        pass


def launches(x, y, kernel, n=3000):
    import torch
    out = {}
    for name, fn in (("torch_us", lambda: torch.nn.functional.softplus(x)),
                     ("triton_us", lambda: kernel[(2048,)](x, y, x.numel(), BLOCK=1024))):
        for _ in range(100):
            fn()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(n):
            fn()
            if i % 200 == 199:
                torch.cuda.synchronize()
        torch.cuda.synchronize()
        out[name] = round((time.perf_counter() - t) / n * 1e6, 2)
    return out


def main():
    cpus = sorted(os.sched_getaffinity(0))
    me = cpus[-1]
    os.sched_setaffinity(0, {me})
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def softplus_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        v = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
        tl.store(y_ptr + offs, tl.maximum(v, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(v))), mask=offs < n)

    x = torch.randn(512, 4096, device="cuda")
    y = torch.empty_like(x)
    ctx = mp.get_context("spawn")
    for rnd in range(2):
        print(json.dumps({"round": rnd, "spinner": None, "cpu": me, **launches(x, y, softplus_kernel)}), flush=True)
        for other in cpus[:-1]:
            stop = ctx.Event()
            p = ctx.Process(target=spin, args=(other, stop))
            p.start()
            time.sleep(0.2)
            print(json.dumps({"round": rnd, "spinner": other, "cpu": me, **launches(x, y, softplus_kernel)}),
                  flush=True)
            stop.set()
            p.join()


if __name__ == "__main__":
    main()
