"""The exact-fp32 few-rows forward (_fma_lse_mish_few_rows_kernel) against the TMA few-rows kernel (tf32 tensor cores)
and cuBLAS tf32 addmm (GPU): kernel time of CUDA-graph replays, contenders interleaved (3 rounds, medians), W's read
rate, and rel-L2 against float64, at a few rows of x and several FMA configs (BLOCK_N, BLOCK_K, warps).

    PYTHONPATH=src python3 benchmarks/forward/sweep_fma.py OUT.json [--shapes "[(M, K, N), ...]"]
        [--configs "[(2, 2048, 8)]"] [--precision fp32]

With --precision fp32 the fp32 mode's forward (the register-operand 3xtf32 kernel where the FMA kernel is off) is
compared with cuBLAS in full fp32 (addmm with TF32 off: eager fp32, KernelBench's baseline).
"""
import ast
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import interleaved_ms, problem, rel_l2, write_json  # noqa: E402

import lsemish.model_new as mn  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402

SHAPES = [(1, 8192, 8192), (2, 8192, 8192), (4, 8192, 8192), (8, 8192, 8192), (16, 8192, 8192),
          (1, 4096, 32000), (8, 4096, 32000)]
CONFIGS = [(2, 2048, 8), (4, 1024, 8), (8, 512, 8), (1, 4096, 8), (2, 1024, 4)]


def with_fma(config, precision="tf32"):
    """A forward that runs the FMA kernel with config (BLOCK_N, BLOCK_K, warps), or the tensor-core path (None)."""
    table = mn._FMA_CONFIGS["sm90"]

    def call(x, w, b):
        if config is None:
            table["MAX_M"] = {}
        else:
            table.update(MAX_M={0: 64, 1: 64}, BLOCK_N=config[0], BLOCK_K=config[1], num_warps=config[2])
        return mn.linear_lse_mish(x, w, b, *CONSTANTS, precision=precision)
    return call


def main(out_path, shapes, configs, precision="tf32"):
    shipped = dict(mn._FMA_CONFIGS["sm90"])
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    baseline = "cublas-tf32" if precision == "tf32" else "cublas-fp32"
    few = "tma-few" if precision == "tf32" else "register"
    rows = []
    for M, K, N in shapes:
        x, w, b, gold = problem(M, K, N)
        fwds = {few: with_fma(None, precision), **{f"fma{c}": with_fma(c, precision) for c in configs}}
        errs = {name: rel_l2(f(x, w, b), gold) for name, f in fwds.items()}
        fns = {baseline: lambda: torch.addmm(b, x, w.T)}
        fns.update({name: (lambda f: lambda: f(x, w, b))(f) for name, f in fwds.items()})
        ms = interleaved_ms(fns)
        base = ms[baseline]
        gb = w.numel() * 4 * 1e-9
        for name in fns:
            rows.append({"M": M, "K": K, "N": N, "name": name, "ms": ms[name], "x_cublas": ms[name] / base,
                         "w_read_tb_s": gb / ms[name], "rel_l2": errs.get(name), "precision": precision})
        print(f"{M}x{K}x{N} cuBLAS {base:.4f} ms | " + " | ".join(
            f"{n} {ms[n]:.4f} ({ms[n] / base:.3f}x, {gb / ms[n]:.2f} TB/s, {errs[n]:.1e})" for n in fwds), flush=True)
    mn._FMA_CONFIGS["sm90"] = shipped
    write_json(out_path, "kernel time of CUDA-graph replays (do_bench_cudagraph, rep=60), 3 interleaved rounds, "
                         "medians; TB/s = W's bytes / time", rows)


if __name__ == "__main__":
    args = sys.argv[1:]
    opts = {"--shapes": SHAPES, "--configs": CONFIGS, "--precision": "tf32"}
    for flag in opts:
        if flag in args:
            at = args.index(flag)
            opts[flag] = args[at + 1] if flag == "--precision" else ast.literal_eval(args[at + 1])
            del args[at:at + 2]
    main(args[0], opts["--shapes"], opts["--configs"], opts["--precision"])
