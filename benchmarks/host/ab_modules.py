"""Two copies of the deliverable, side by side (GPU): kernel time of linear_lse_mish (CUDA-graph replays, so no host
time) at several shapes, interleaved (3 rounds, medians), with cuBLAS tf32 addmm, and rel-L2 against float64.

    PYTHONPATH=src python3 benchmarks/host/ab_modules.py OUT.json FILE_A:LABEL FILE_B:LABEL
        [--shapes "[(M, K, N), ...]"]
"""
import ast
import importlib.util
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import interleaved_ms, problem, rel_l2, write_json  # noqa: E402

from lsemish.problems.problem22 import CONSTANTS  # noqa: E402

SHAPES = [(1, 8192, 8192), (16, 8192, 8192), (128, 8192, 8192), (333, 1000, 3000), (1024, 8192, 8192),
          (1024, 8192, 128256)]


def load(spec):
    path, label = spec.rsplit(":", 1)
    module_spec = importlib.util.spec_from_file_location(f"ab_{label}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return label, module


def main(out_path, specs, shapes=SHAPES):
    torch.backends.cuda.matmul.allow_tf32 = True
    modules = [load(s) for s in specs]
    rows = []
    for M, K, N in shapes:
        x, w, b, gold = problem(M, K, N)
        fns = {"cublas-tf32": lambda: torch.addmm(b, x, w.T)}
        errs = {}
        for label, module in modules:
            errs[label] = rel_l2(module.linear_lse_mish(x, w, b, *CONSTANTS), gold)
            fns[label] = (lambda m: lambda: m.linear_lse_mish(x, w, b, *CONSTANTS))(module)
        ms = interleaved_ms(fns)
        base = ms["cublas-tf32"]
        line = [f"{M}x{K}x{N}"]
        for label, _ in modules:
            rows.append({"M": M, "K": K, "N": N, "module": label, "ms": ms[label], "cublas_ms": base,
                         "x_cublas": ms[label] / base, "rel_l2": errs[label]})
            line.append(f"{label} {ms[label]:.4f} ms ({ms[label] / base:.3f}x cuBLAS, rel-L2 {errs[label]:.2e})")
        print("  ".join(line), flush=True)
    write_json(out_path, "kernel time of CUDA-graph replays (do_bench_cudagraph, rep=60), 3 interleaved rounds, "
                         "medians", rows, modules=specs)


if __name__ == "__main__":
    args = sys.argv[1:]
    shapes = SHAPES
    if "--shapes" in args:
        at = args.index("--shapes")
        shapes = ast.literal_eval(args[at + 1])
        del args[at:at + 2]
    main(args[0], args[1:], shapes)
