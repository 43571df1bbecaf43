"""A persistent variant of the 16-bit backward products (issue 23), a prototype outside the deliverable: does walking
the output tiles in one program per SM, the next tile's copies in flight while this tile is stored, close dW's gap to
cuBLAS? (session 26, idle GPU: dW = G^T x 1.11x cuBLAS `mm`, dX = G W 1.005x. dW reduces over the batch, 1024 rows
= 16 steps of 64 per tile, so each tile's pipeline fill and its 64 KB store weigh 8x more than in dX; cuBLAS's
kernel for it is persistent.)

One program per SM walks the tiles (tile, tile + programs, ...) in the deliverable's grouped order. FLATTEN: the tile
loop and the K loop are one software-pipelined loop (tl.range(flatten=True), as tutorial 09's persistent matmul), so
the next tile's loads are issued while this one is stored; SUBTILE: the tile stored in two halves (half the shared
memory for the store). The numbers are the deliverable kernel's: the same products in the same order, checked here
against it bit for bit.

    PYTHONPATH=src python3 benchmarks/backward/persistent_grad.py OUT.json [--shape M,K,N] [--dtype bfloat16]
        [--timing idle] [--configs "[(BLOCK_R, BLOCK_C, BLOCK_K, GROUP_M, warps, stages), ...]"]
"""
import os
import sys

import torch
import triton
import triton.language as tl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from graph_timing import dtype_of, option, shape_of, timed_ms, training_state, write_json  # noqa: E402

import lsemish.model_new as mn  # noqa: E402
from lsemish.model_new import _grouped_tile  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402

# (BLOCK_R, BLOCK_C, BLOCK_K, GROUP_M, warps, stages): the deliverable's tile first
CONFIGS = [(128, 256, 64, 8, 8, 3), (128, 256, 64, 8, 8, 4), (256, 128, 64, 8, 8, 3)]
# name: (FLATTEN, SUBTILE)
VARIANTS = {"persistent": (True, False), "persistent-subtile": (True, True), "unflattened": (False, False),
            "unflattened-subtile": (False, True)}


@triton.jit
def persistent_grad_product_kernel(
    a_desc, b_desc, out_desc, out_ptr, ROWS, COLS, RED, TRANS_A: tl.constexpr, BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr, PROGRAMS: tl.constexpr,
    FLATTEN: tl.constexpr, SUBTILE: tl.constexpr,
):
    row_blocks, col_blocks = tl.cdiv(ROWS, BLOCK_R), tl.cdiv(COLS, BLOCK_C)
    steps = tl.maximum(tl.cdiv(RED, BLOCK_K), 1)
    # The store counts its own tiles: with FLATTEN the loads run ahead of it, so it must not read the loop's.
    stored = tl.program_id(0) - PROGRAMS
    for tile in tl.range(tl.program_id(0), row_blocks * col_blocks, PROGRAMS, flatten=FLATTEN):
        pid_r, pid_c = _grouped_tile(tile, row_blocks, col_blocks, GROUP_M)
        acc = tl.zeros((BLOCK_R, BLOCK_C), dtype=tl.float32)
        for k in range(0, steps):
            if TRANS_A:
                a = a_desc.load([k * BLOCK_K, pid_r * BLOCK_R]).T
            else:
                a = a_desc.load([pid_r * BLOCK_R, k * BLOCK_K])
            b = b_desc.load([k * BLOCK_K, pid_c * BLOCK_C])
            acc = tl.dot(a, b, acc)
        stored += PROGRAMS
        st_r, st_c = _grouped_tile(stored, row_blocks, col_blocks, GROUP_M)
        if SUBTILE:
            halves = tl.permute(tl.reshape(acc, (BLOCK_R, 2, BLOCK_C // 2)), (0, 2, 1))
            left, right = tl.split(halves)
            out_desc.store([st_r * BLOCK_R, st_c * BLOCK_C], left.to(out_ptr.dtype.element_ty))
            out_desc.store([st_r * BLOCK_R, st_c * BLOCK_C + BLOCK_C // 2], right.to(out_ptr.dtype.element_ty))
        else:
            out_desc.store([st_r * BLOCK_R, st_c * BLOCK_C], acc.to(out_ptr.dtype.element_ty))


def persistent_product(g, b, out, transposed, config, flatten, subtile):
    """out = G B, or G^T B when transposed (as mn._smem_grad_product), by the persistent kernel."""
    r, c, k, group, warps, stages = config
    M, N = g.shape
    rows, red = (N, M) if transposed else (M, N)
    cols = b.shape[1]
    a_desc = mn._plain_descriptor(g, [k, r] if transposed else [r, k])
    b_desc = mn._plain_descriptor(b, [k, c])
    out_desc = mn._plain_descriptor(out, [r, c // 2 if subtile else c])
    programs = min(torch.cuda.get_device_properties(g.device).multi_processor_count,
                   triton.cdiv(rows, r) * triton.cdiv(cols, c))
    persistent_grad_product_kernel[(programs,)](
        a_desc, b_desc, out_desc, out, rows, cols, red, TRANS_A=transposed, BLOCK_R=r, BLOCK_C=c, BLOCK_K=k,
        GROUP_M=group, PROGRAMS=programs, FLATTEN=flatten, SUBTILE=subtile, num_warps=warps, num_stages=stages)


def main(out_path, shape, dtype, configs):
    M, K, N = shape
    x, w, b, lse, p, g = training_state(M, K, N, dtype)
    G, _, _ = torch.ops.lsemish.lse_mish_grad(g, x, lse, p, *CONSTANTS, "tf32", False)
    roles = {"dX": (w, False, (M, K)), "dW": (x, True, (N, K))}
    fns, same = {}, {}
    for role, (operand, transposed, out_shape) in roles.items():
        want = torch.empty(out_shape, device="cuda", dtype=dtype)
        mn._smem_grad_product("sm90", G, operand, want, transposed)
        fns[f"{role} cublas"] = (lambda o, t: lambda: torch.mm(G.t() if t else G, o))(operand, transposed)
        fns[f"{role} deliverable"] = (lambda o, t, out: lambda: mn._smem_grad_product("sm90", G, o, out, t))(
            operand, transposed, torch.empty_like(want))
        for config in configs:
            for name, (flatten, subtile) in VARIANTS.items():
                key = f"{role} {name} {config}"
                out = torch.full(out_shape, float("nan"), device="cuda", dtype=dtype)
                fn = (lambda o, t, out, cf, f, s: lambda: persistent_product(G, o, out, t, cf, f, s))(
                    operand, transposed, out, config, flatten, subtile)
                try:
                    fn()
                except Exception as e:  # a variant this Triton cannot compile or fit: say so, time the rest
                    print(f"{key}: {type(e).__name__}: {str(e)[:160]}", flush=True)
                    continue
                fns[key] = fn
                # the deliverable's tile computes the same sums in the same order: equal bit for bit
                same[key] = bool(torch.equal(out, want)) if config == configs[0] else None
    ms = timed_ms(fns)
    rows = []
    for key, t in ms.items():
        role = key.split()[0]
        row = {"name": key, "ms": t, "x_cublas": t / ms[f"{role} cublas"],
               "x_deliverable": t / ms[f"{role} deliverable"], "bitwise_equal_to_deliverable": same.get(key)}
        rows.append(row)
        print(f"{key:44s} {t:.4f} ms  {row['x_cublas']:.3f}x cuBLAS  {row['x_deliverable']:.3f}x deliverable  "
              f"equal {same.get(key)}", flush=True)
    write_json(out_path, f"16-bit backward products at {M}x{K}x{N}, {dtype}, persistent variants; kernel time by "
               "the 'timing' field's method (graph_timing.timed_ms)", rows, command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], option("--shape", (1024, 8192, 8192), shape_of), option("--dtype", torch.bfloat16, dtype_of),
         option("--configs", CONFIGS))
