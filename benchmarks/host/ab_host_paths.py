"""Two copies of the deliverable side by side (GPU), for the paths that launch the register-operand kernels (fp32 and
bf16 inference, fwd+bwd) and the default tf32 inference as a control: host time per call (lsemish.bench.host_ms at
a tiny shape, where the GPU work is negligible) and per-call latency as KernelBench times it
(lsemish.bench.kernelbench_call_ms) at larger shapes. Interleaved: the two modules alternate within each of ROUNDS
rounds; medians over rounds. (session6/launch-paths/ ran this script's own copies of the two timers at 6485fb7: a
synchronize inside the host loop's timing, and per-call latency without the L2 flush.)

    PYTHONPATH=src python3 benchmarks/host/ab_host_paths.py OUT.json FILE_A:LABEL FILE_B:LABEL
        [--host-shape M,K,N] [--call-shapes "[(M, K, N), ...]"] [--cases "[('tf32', False), ...]"]
"""
import ast
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from ab_modules import load  # noqa: E402
from graph_timing import problem, write_json  # noqa: E402

from lsemish.bench import host_ms, kernelbench_call_ms  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402

ROUNDS = 5
CASES = [("tf32", False), ("fp32", False), ("bf16", False), ("tf32", True), ("fp32", True)]
HOST_SHAPE = (16, 64, 64)
CALL_SHAPES = [(16, 1024, 1024), (1024, 8192, 8192)]


def host_us(fn):
    return host_ms(fn) * 1e3


def call_ms(fn):
    return kernelbench_call_ms(fn, trials=30)


def case_fn(module, precision, training, shape):
    x, w, b, _ = problem(*shape)
    if not training:
        return lambda: module.linear_lse_mish(x, w, b, *CONSTANTS, precision)
    x, w, b = (t.clone().requires_grad_() for t in (x, w, b))
    g = torch.randn(shape[0], 1, device="cuda")

    def step():
        module.linear_lse_mish(x, w, b, *CONSTANTS, precision).backward(g)
    return step


def main(out_path, specs, host_shape=HOST_SHAPE, call_shapes=CALL_SHAPES, cases=CASES):
    torch.backends.cuda.matmul.allow_tf32 = True
    modules = [load(s) for s in specs]
    rows = []
    for precision, training in cases:
        case = f"{precision} {'fwd+bwd' if training else 'inference'}"
        for metric, shapes, timer in (("host_us", [host_shape], host_us), ("call_ms", call_shapes, call_ms)):
            for shape in shapes:
                fns = {label: case_fn(module, precision, training, shape) for label, module in modules}
                for fn in fns.values():  # compile outside the timed rounds
                    fn()
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
    write_json(out_path, f"host_us: lsemish.bench.host_ms at {'x'.join(map(str, host_shape))} (200 calls issued "
               "without waiting), per call; "
               "call_ms: lsemish.bench.kernelbench_call_ms (L2 flush, an event pair, a synchronize; 30 trials); "
               "medians over 5 interleaved rounds", rows, command=" ".join(sys.argv))


if __name__ == "__main__":
    args, opts = sys.argv[1:], {}
    for flag in ("--host-shape", "--call-shapes", "--cases"):
        if flag in args:
            at = args.index(flag)
            value = args[at + 1]
            opts[flag[2:].replace("-", "_")] = (tuple(map(int, value.split(","))) if flag == "--host-shape"
                                                 else ast.literal_eval(value))
            del args[at:at + 2]
    main(args[0], args[1:], **opts)
