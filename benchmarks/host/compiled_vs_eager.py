"""One copy of the deliverable (GPU): its ModelNew eagerly and under torch.compile (Inductor, default mode,
fullgraph), side by side with cuBLAS tf32 addmm at the headline: forward (inference) and forward + backward. Per-call
latency as KernelBench times it (lsemish.bench.kernelbench_call_ms; session6/custom-ops/ ran an earlier copy without
the L2 flush) and GPU time (triton.testing.do_bench), interleaved
over ROUNDS rounds, medians; the compiled outputs are compared with eager's. Run one copy per process: the copy loaded
first registers the torch.ops the compiled graph calls.

    PYTHONPATH=src python3 benchmarks/host/compiled_vs_eager.py OUT.json FILE:LABEL
"""
import os
import statistics
import sys

import torch
import triton

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from ab_host_paths import call_ms  # noqa: E402
from ab_modules import load  # noqa: E402
from graph_timing import write_json  # noqa: E402

from lsemish.problems.problem22 import init_inputs  # noqa: E402

ROUNDS = 5
M, K, N = 1024, 8192, 8192


def main(out_path, spec):
    torch.backends.cuda.matmul.allow_tf32 = True
    label, module = load(spec)
    torch.manual_seed(0)
    model = module.ModelNew(*init_inputs(K, N)).cuda()
    compiled = torch.compile(model, fullgraph=True)
    x = torch.rand(M, K, device="cuda")
    xg = x.clone().requires_grad_()
    g = torch.randn(M, 1, device="cuda")
    w, b = model.matmul.weight.detach(), model.matmul.bias.detach()

    def step(fn):
        def run():
            fn(xg).backward(g)
        return run

    with torch.no_grad():
        same_forward = bool(torch.equal(compiled(x), model(x)))
    cases = {
        "forward": {"cublas-tf32-addmm": lambda: torch.addmm(b, x, w.T), "eager": lambda: model(x),
                    "compiled": lambda: compiled(x)},
        "fwd+bwd": {"eager": step(model), "compiled": step(compiled)},
    }
    rows = []
    for case, fns in cases.items():
        with torch.set_grad_enabled(case != "forward"):
            got = {(name, metric): [] for name in fns for metric in ("call_ms", "gpu_ms")}
            for _ in range(ROUNDS):
                for name, fn in fns.items():
                    got[(name, "call_ms")].append(call_ms(fn))
                    got[(name, "gpu_ms")].append(triton.testing.do_bench(fn, warmup=10, rep=100))
        for (name, metric), values in got.items():
            rows.append({"module": label, "case": case, "contender": name, "metric": metric,
                         "ms": statistics.median(values)})
            print(case, name, metric, round(rows[-1]["ms"], 4), flush=True)
    print("compiled forward equals eager bitwise:", same_forward, flush=True)
    write_json(out_path, f"{label}: ModelNew eager vs torch.compile(fullgraph=True) at {M}x{K}x{N}; medians of "
               f"{ROUNDS} interleaved rounds", rows, compiled_forward_equals_eager=same_forward,
               command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
