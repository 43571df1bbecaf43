"""Two copies of the deliverable, side by side (GPU): kernel time of linear_lse_mish (CUDA-graph replays, so no host
time) at several shapes, interleaved (3 rounds, medians), with cuBLAS tf32 addmm, and rel-L2 against float64.

    PYTHONPATH=src python3 benchmarks/ab_modules.py OUT.json FILE_A:LABEL FILE_B:LABEL
"""
import importlib.util
import json
import statistics
import sys

import torch
import triton

from lsemish.problem import reference_forward

SHAPES = [(1, 8192, 8192), (16, 8192, 8192), (128, 8192, 8192), (333, 1000, 3000), (1024, 8192, 8192),
          (1024, 8192, 128256)]


def load(spec):
    path, label = spec.rsplit(":", 1)
    module_spec = importlib.util.spec_from_file_location(f"ab_{label}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return label, module


def main(out_path, specs):
    torch.backends.cuda.matmul.allow_tf32 = True
    modules = [load(s) for s in specs]
    rows = []
    for M, K, N in SHAPES:
        torch.manual_seed(0)
        x = torch.rand(M, K, device="cuda")
        w = torch.randn(N, K, device="cuda") / K**0.5
        b = torch.randn(N, device="cuda")
        gold = reference_forward(x.double(), w.double(), b.double(), 2.0, -10.0, 10.0)
        fns = {"cublas-tf32": lambda: torch.addmm(b, x, w.T)}
        errs = {}
        for label, module in modules:
            out = module.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0)
            errs[label] = float((out.double() - gold).norm() / gold.norm())
            fns[label] = (lambda m: lambda: m.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0))(module)
        times = {k: [] for k in fns}
        for _ in range(3):
            for k, fn in fns.items():
                times[k].append(triton.testing.do_bench_cudagraph(fn, rep=60))
        base = statistics.median(times["cublas-tf32"])
        line = [f"{M}x{K}x{N}"]
        for label, _ in modules:
            ms = statistics.median(times[label])
            rows.append({"M": M, "K": K, "N": N, "module": label, "ms": ms, "cublas_ms": base,
                         "x_cublas": ms / base, "rel_l2": errs[label]})
            line.append(f"{label} {ms:.4f} ms ({ms / base:.3f}x cuBLAS, rel-L2 {errs[label]:.2e})")
        print("  ".join(line), flush=True)
    json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
               "note": "kernel time of CUDA-graph replays (do_bench_cudagraph, rep=60), 3 interleaved rounds, "
                       "medians", "modules": specs, "rows": rows}, open(out_path, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
