"""A persistent variant of the TMA forward (issue 23), a prototype outside the deliverable: does overlapping a tile's
epilogue with the next tile's loads close the last 2-3 % to cuBLAS? (session 24: the 16-bit forward at 1.03x cuBLAS
bf16 with the best of nine tile configs; the pipeline depth was not what limits it.)

One program per SM walks the tiles (tile, tile + programs, ...) in the deliverable's grouped order; with FLATTEN the
tile loop and the K loop are one software-pipelined loop (Triton's tl.range(flatten=True), as tutorial 09's
persistent matmul), so the next tile's copies are in flight while this tile's epilogue (_fold_tile: scale, clamp, the
row's max and sum of exp, the last program of a row block folding it) runs. The numerics are the one-tile kernel's
(same products, same partials, folded in tile order): tests/test_persistent_prototype.py checks they are identical
through the interpreter.

    PYTHONPATH=src python3 benchmarks/forward/persistent_tma.py --compile   (CPU: each variant for sm_90, JSON lines)
    PYTHONPATH=src python3 benchmarks/forward/persistent_tma.py OUT.json
        [--shapes "[(M, K, N), ...]"] [--dtypes "['bfloat16', 'float16', 'float32']"] [--config "(BM, BN, BK, warps,
        stages)"] [--timing idle]
GPU time (CUDA-graph replays, or single calls on an idle GPU with `--timing idle`: graph_timing.timed_ms) against
the deliverable's forward and cuBLAS addmm of the same dtype (tf32 for fp32), interleaved, and rel-L2 against
float64.
"""
import os
import sys

import torch
import triton
import triton.language as tl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import option, problem, rel_l2, timed_ms, write_json  # noqa: E402

from lsemish import model_new as mn  # noqa: E402
from lsemish.model_new import (_bias_tile, _fold_tile, _grouped_tile, _lse_mish_combine_kernel, _scalars,  # noqa: E402
                                _tile_partials, _tma_tile_product)

# (BLOCK_M, BLOCK_N, BLOCK_K in fp32 units: doubled for 16-bit operands, warps, stages): the deliverable's "large"
CONFIG = (128, 256, 32, 8, 3)
SHAPES = [(1024, 8192, 8192), (4096, 8192, 50257)]
DTYPES = ["bfloat16", "float16", "float32"]
# name: (FLATTEN, FOLD_HERE, WARP_SPEC). Triton 3.6 on the H200 compiles FLATTEN for sm_90 only without the fold
# inside (TritonGPUFuseNestedLoops fails: session 25, calls 1 and 6); WARP_SPEC (a producer warp issuing the next
# tile's copies while the consumers run this tile's epilogue) is not applied on sm_90 by 3.6 or 3.9 (ws_probe.py).
VARIANTS = {"persistent": (True, True, False), "persistent-unflattened": (False, True, False),
            "persistent-then-fold": (True, False, False), "ws": (False, True, True),
            "ws-then-fold": (False, False, True)}


@triton.jit
def persistent_lse_mish_kernel(
    x_desc, w_desc, bias_ptr, part_ptr, count_ptr, out_ptr, M, N, K, stride_out, scale, clamp_min, clamp_max,
    HAS_BIAS: tl.constexpr, EMULATE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr, PROGRAMS: tl.constexpr, FLATTEN: tl.constexpr,
    FOLD_HERE: tl.constexpr, WARP_SPEC: tl.constexpr, FIXED_MAX: tl.constexpr,
):
    scale, clamp_min, clamp_max = _scalars(scale, clamp_min, clamp_max, tl.float32)
    row_blocks, tiles = tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_N)
    steps = tl.maximum(tl.cdiv(K, BLOCK_K), 1)
    # The epilogue counts its own tiles: with FLATTEN the loads run ahead of it, so it must not read the loop's.
    folded = tl.program_id(0) - PROGRAMS
    for tile in tl.range(tl.program_id(0), row_blocks * tiles, PROGRAMS, flatten=FLATTEN, warp_specialize=WARP_SPEC):
        pid_m, pid_n = _grouped_tile(tile, row_blocks, tiles, GROUP_M)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        acc = _tma_tile_product(x_desc, w_desc, pid_m * BLOCK_M, pid_n * BLOCK_N, 0, steps, acc, EMULATE, BLOCK_K)
        folded += PROGRAMS
        fold_m, fold_n = _grouped_tile(folded, row_blocks, tiles, GROUP_M)
        bias = _bias_tile(bias_ptr, fold_n, N, HAS_BIAS, BLOCK_N)
        if FOLD_HERE:
            _fold_tile(acc, fold_m, fold_n, None, bias, part_ptr, count_ptr, out_ptr, out_ptr, M, N, stride_out,
                       scale, clamp_min, clamp_max, HAS_BIAS, FIXED_MAX, False, False, False, BLOCK_M, BLOCK_N,
                       EMULATE)
        else:  # the tile's partials alone (plain stores; _fold_tile's first half); the combine kernel folds them after
            _tile_partials(acc, fold_m, fold_n, None, bias, part_ptr, M, N, scale, clamp_min, clamp_max, HAS_BIAS,
                           FIXED_MAX, False, False, EMULATE, BLOCK_M, BLOCK_N)


def config_dict(config, element_size):
    bm, bn, bk, warps, stages = config
    cfg = dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8, num_warps=warps, num_stages=stages)
    return mn._tma_config_for(cfg, element_size)


def persistent_forward(x, weight, bias, consts, config=CONFIG, programs=None, flatten=True, fold_here=True,
                       warp_spec=False):
    """out (M, 1) = lse * mish(lse) of clamp(2 * scale * (x W^T + b)) by the persistent kernel; `programs`: how many
    (default: one per SM, at most one per tile); fold_here False: the partials alone, folded by a second launch (the
    deliverable's combine kernel). Compiled for sm_90 (`--compile`, triton 3.9 on the CPU), the flattened loop with
    the fold inside keeps one stage of shared memory (49 KB against the one-tile kernel's 147: not pipelined); with
    the partials alone, three (148 KB)."""
    M, K = x.shape
    N = weight.shape[0]
    cfg = config_dict(config, x.element_size())
    interpreting = mn._interpreting()
    row_blocks, tiles = triton.cdiv(M, cfg["BLOCK_M"]), triton.cdiv(N, cfg["BLOCK_N"])
    if programs is None:
        programs = torch.cuda.get_device_properties(x.device).multi_processor_count
    programs = min(programs, row_blocks * tiles)
    out = torch.empty((M, 1), device=x.device, dtype=x.dtype)
    part = torch.empty((2 * tiles * M,), device=x.device, dtype=torch.float32)
    count = torch.zeros((row_blocks,), device=x.device, dtype=torch.int32)
    x_desc, w_desc, _ = mn._tma_descriptors(cfg, x, weight, None)
    scale, clamp_min, clamp_max = consts
    mn._launch(persistent_lse_mish_kernel, x, (programs,), dict(
        x_desc=x_desc, w_desc=w_desc, bias_ptr=bias, part_ptr=part, count_ptr=count, out_ptr=out, M=M, N=N, K=K,
        stride_out=out.stride(0), scale=scale, clamp_min=clamp_min, clamp_max=clamp_max),
        dict(HAS_BIAS=True, EMULATE=interpreting, **cfg, PROGRAMS=programs, FLATTEN=flatten, FOLD_HERE=fold_here,
             WARP_SPEC=warp_spec, FIXED_MAX=mn.fixed_max(clamp_min, clamp_max)),
        mn._rounded(x))
    if not fold_here:
        mn._launch(_lse_mish_combine_kernel, x, (triton.cdiv(M, 256),), dict(
            part_max_ptr=part[:tiles * M], part_sum_ptr=part[tiles * M:], out_ptr=out, lse_ptr=out, M=M,
            num_tiles=tiles, stride_out=out.stride(0)), dict(SAVE_LSE=False, BLOCK=256))
    return out


def main(out_path, shapes=SHAPES, dtypes=DTYPES, config=CONFIG):
    from lsemish.problems.problem22 import CONSTANTS
    torch.backends.cuda.matmul.allow_tf32 = True
    consts = tuple(CONSTANTS)
    rows = []
    for M, K, N in shapes:
        x32, w32, b32, gold = problem(M, K, N)
        for dtype in dtypes:
            x, w, b = (t.to(getattr(torch, dtype)) for t in (x32, w32, b32))
            fns = {"cublas": lambda: torch.addmm(b, x, w.T),
                   "deliverable": lambda: mn.linear_lse_mish(x, w, b, *consts)}
            for name, (flatten, fold_here, warp_spec) in VARIANTS.items():
                fns[name] = (lambda f, h, s: lambda: persistent_forward(x, w, b, consts, config, flatten=f,
                                                                        fold_here=h, warp_spec=s))(
                    flatten, fold_here, warp_spec)
            errs = {}
            for name in list(fns):
                if name == "cublas":
                    continue
                try:
                    errs[name] = rel_l2(fns[name](), gold)
                except Exception as e:  # a variant this Triton cannot compile: say so, time the rest
                    print(f"{name}: {type(e).__name__}: {str(e)[:160]}", flush=True)
                    del fns[name]
            ms = timed_ms(fns)
            row = {"M": M, "K": K, "N": N, "dtype": dtype, "config": config, "ms": ms, "rel_l2": errs,
                   "x_cublas": {name: ms[name] / ms["cublas"] for name in ms}}
            rows.append(row)
            print(f"{M}x{K}x{N} {dtype:9s} " + "  ".join(f"{name} {ms[name]:.4f} ms ({row['x_cublas'][name]:.3f}x)"
                                                          for name in ms), flush=True)
    write_json(out_path, "GPU time by the 'timing' field's method (graph_timing.timed_ms), interleaved; x_cublas: "
               "against cuBLAS addmm of the same dtype", rows)


def compile_variants(config=CONFIG):
    """Each variant compiled for sm_90 without a GPU: {dtype, flatten, fold_here, shared, registers, spills}."""
    import json

    from triton.compiler import ASTSource

    from lsemish import compile_report as cr
    for dtype, size in (("bf16", 2), ("fp32", 4)):
        cfg = config_dict(config, size)
        bm, bn, bk = cfg["BLOCK_M"], cfg["BLOCK_N"], cfg["BLOCK_K"]
        types = {"x_desc": f"tensordesc<{dtype}[{bm},{bk}]>", "w_desc": f"tensordesc<{dtype}[{bn},{bk}]>",
                 "bias_ptr": f"*{dtype}", "part_ptr": "*fp32", "count_ptr": "*i32", "out_ptr": f"*{dtype}"}
        for flatten, fold_here, warp_spec in VARIANTS.values():
            constexprs = {"HAS_BIAS": True, "EMULATE": False, "PROGRAMS": 132, "FLATTEN": flatten,
                          "FOLD_HERE": fold_here, "WARP_SPEC": warp_spec, "FIXED_MAX": True,
                          **{k: v for k, v in cfg.items() if k.isupper()}}
            sig = cr._signature_of(persistent_lse_mish_kernel, types, constexprs)
            aligned = {(i,): [["tt.divisibility", 16]] for i, name in enumerate(sig) if name.endswith("_ptr")}
            src = ASTSource(fn=persistent_lse_mish_kernel, signature=sig, constexprs=constexprs, attrs=aligned)
            row = cr._tensor_core_row(src, 90, cfg, f"{dtype}-persistent", "forward", {**cfg, "tma": True})
            print(json.dumps({"dtype": dtype, "flatten": flatten, "fold_here": fold_here, "warp_spec": warp_spec,
                              "shared": row.shared,
                              "stage_bytes": (bm + bn) * bk * size, "registers": row.registers,
                              "spills": row.spills}), flush=True)


if __name__ == "__main__" and sys.argv[1:] == ["--compile"]:
    compile_variants()
elif __name__ == "__main__":
    main(sys.argv[1], option("--shapes", SHAPES), option("--dtypes", DTYPES), option("--config", CONFIG))
