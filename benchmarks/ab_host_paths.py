"""Two copies of the deliverable side by side (GPU), for the paths that launch the register-operand kernels (fp32 and
bf16 inference, fwd+bwd) and the default tf32 inference as a control: host time per call (a warm loop at a tiny
shape, where the GPU work is negligible) and per-call latency as KernelBench times it (an event pair and a
synchronize around each call) at larger shapes. Interleaved: the two modules alternate within each of ROUNDS rounds;
medians over rounds.

    PYTHONPATH=src python3 benchmarks/ab_host_paths.py OUT.json FILE_A:LABEL FILE_B:LABEL
"""
import statistics
import sys
import time

import torch
from ab_modules import load
from graph_timing import problem, write_json

ROUNDS = 5
CASES = [("tf32", False), ("fp32", False), ("bf16", False), ("tf32", True), ("fp32", True)]
HOST_SHAPE = (16, 64, 64)
CALL_SHAPES = [(16, 1024, 1024), (1024, 8192, 8192)]


def host_us(fn, n=200):
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n * 1e6


def call_ms(fn, n=30):
    for _ in range(3):
        fn()
    times = []
    for _ in range(n):
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.mean(times)


def case_fn(module, precision, training, shape):
    x, w, b, _ = problem(*shape)
    if not training:
        return lambda: module.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision)
    x, w, b = (t.clone().requires_grad_() for t in (x, w, b))
    g = torch.randn(shape[0], 1, device="cuda")

    def step():
        module.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision).backward(g)
    return step


def main(out_path, specs):
    torch.backends.cuda.matmul.allow_tf32 = True
    modules = [load(s) for s in specs]
    rows = []
    for precision, training in CASES:
        case = f"{precision} {'fwd+bwd' if training else 'inference'}"
        for metric, shapes, timer in (("host_us", [HOST_SHAPE], host_us), ("call_ms", CALL_SHAPES, call_ms)):
            for shape in shapes:
                fns = {label: case_fn(module, precision, training, shape) for label, module in modules}
                got = {label: [] for label in fns}
                for _ in range(ROUNDS):
                    for label, fn in fns.items():
                        got[label].append(timer(fn))
                med = {label: statistics.median(v) for label, v in got.items()}
                first = modules[0][0]
                for label, value in med.items():
                    rows.append({"case": case, "shape": "x".join(map(str, shape)), "metric": metric,
                                 "module": label, "value": value, "ratio_to_first": value / med[first]})
                print(case, shape, metric, {k: round(v, 4) for k, v in med.items()},
                      {k: round(v / med[first], 3) for k, v in med.items()}, flush=True)
                del fns
                torch.cuda.empty_cache()
    write_json(out_path, "host_us: warm loop of 200 calls at 16x64x64, per call; call_ms: mean of 30 calls, each "
               "timed by an event pair with a synchronize before and after (KernelBench's way, without its L2 "
               "flush); medians over 5 interleaved rounds", rows, command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
