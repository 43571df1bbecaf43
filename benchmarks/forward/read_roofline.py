"""The small-batch floor (GPU): at M <= 128 the forward is bound by reading W once. How fast can this GPU read
8192 x 8192 fp32 (256 MiB), and how close do cuBLAS tf32 addmm and lsemish's forward come? Kernel time of CUDA-graph
replays, contenders interleaved (3 rounds, medians). Writes a JSON and prints a table.

    PYTHONPATH=src python3 benchmarks/forward/read_roofline.py OUT.json
"""
import os
import sys

import torch
import triton
import triton.language as tl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import interleaved_ms, write_json  # noqa: E402

import lsemish.model_new as mn  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402


@triton.jit
def _stream_sum(src, out, n, CHUNK: tl.constexpr, BLOCK: tl.constexpr):
    # Each program sums CHUNK consecutive elements, BLOCK at a time (a read-only stream, one store per program).
    start = tl.program_id(0).to(tl.int64) * CHUNK
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    for i in range(0, CHUNK, BLOCK):
        offs = start + i + tl.arange(0, BLOCK)
        acc += tl.load(src + offs, mask=offs < n, other=0.0, cache_modifier=".cg")
    tl.store(out + tl.program_id(0), tl.sum(acc))


def stream_sum(w, chunk, block, warps):
    n = w.numel()
    out = torch.empty(triton.cdiv(n, chunk), device=w.device)
    return lambda: _stream_sum[(triton.cdiv(n, chunk),)](w, out, n, CHUNK=chunk, BLOCK=block, num_warps=warps)


def main(out_path):
    torch.backends.cuda.matmul.allow_tf32 = True
    K = N = 8192
    torch.manual_seed(0)
    w = torch.randn(N, K, device="cuda") / K**0.5
    b = torch.randn(N, device="cuda")
    gib = w.numel() * 4
    fns = {"torch W.sum()": lambda: w.sum(),
           "triton stream 64 KiB/program": stream_sum(w, 16384, 4096, 8),
           "triton stream 256 KiB/program": stream_sum(w, 65536, 4096, 8),
           "triton stream 1 MiB/program": stream_sum(w, 262144, 4096, 8)}
    for M in (1, 16, 128):
        x = torch.rand(M, K, device="cuda")
        fns[f"cuBLAS tf32 addmm M={M}"] = (lambda x: lambda: torch.addmm(b, x, w.T))(x)
        fns[f"lsemish M={M}"] = (lambda x: lambda: mn.linear_lse_mish(x, w, b, *CONSTANTS))(x)
    ms = interleaved_ms(fns, rep=100)
    rows = []
    for k in fns:
        rows.append({"name": k, "ms": ms[k], "w_read_tb_s": gib / ms[k] * 1e-9})
        print(f"{k:32s} {ms[k]:.4f} ms   W read at {gib / ms[k] * 1e-9:.2f} TB/s", flush=True)
    write_json(out_path, "kernel time of CUDA-graph replays (do_bench_cudagraph, rep=100), 3 interleaved rounds, "
                         "median; TB/s = 256 MiB of W / time", rows)


if __name__ == "__main__":
    main(sys.argv[1])
