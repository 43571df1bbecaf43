"""What does the tensor core do with an fp32 operand in tf32 mode: truncate, round, or something else?

Computes I @ B (B raw fp32 from shared memory, I exact) and B @ I on the GPU and compares with B truncated and
rounded to tf32. Then runs the 3xtf32 (fp32) mode of the register-operand forward with and without explicit
truncation of x (each K step's products promoted by an IEEE add, as shipped), and the same split with float64
accumulation. The variant without promotion (the three products chained in the tensor core's accumulator: rel-L2
1.8e-5) needed a kernel switch that the shipped module no longer carries; it ran from commit 9ef2176 of this script.
Usage (GPU): PYTHONPATH=src python benchmarks/forward/diag_tf32.py
"""
import torch
import triton
import triton.language as tl

from lsemish import model_new as mn
from lsemish.problems.problem22 import CONSTANTS, reference_forward


@triton.jit
def _ident_dot(b_ptr, c_ptr, d_ptr, N: tl.constexpr):
    r = tl.arange(0, N)
    b = tl.load(b_ptr + r[:, None] * N + r[None, :])
    eye = tl.where(r[:, None] == r[None, :], 1.0, 0.0)
    tl.store(c_ptr + r[:, None] * N + r[None, :], tl.dot(eye, b, input_precision="tf32"))  # B from shared
    tl.store(d_ptr + r[:, None] * N + r[None, :], tl.dot(b, eye, input_precision="tf32"))  # A from shared


def bits(t, op):
    i = t.view(torch.int32)
    return ((i & -8192) if op == "trunc" else ((i + 4096) & -8192)).view(torch.float32)


def main():
    n = 64
    b = torch.randn(n, n, device="cuda")
    c, d = torch.empty_like(b), torch.empty_like(b)
    _ident_dot[(1,)](b, c, d, N=n)
    for name, v in (("I@B (B operand)", c), ("B@I (A operand)", d)):
        print(f"{name}: equals raw {torch.equal(v, b)}, trunc {torch.equal(v, bits(b, 'trunc'))}, "
              f"round {torch.equal(v, bits(b, 'round'))}")

    M, K, N = 1024, 8192, 8192
    torch.manual_seed(0)
    x = torch.rand(M, K, device="cuda")
    lin = torch.nn.Linear(K, N).cuda()
    w, bias = lin.weight.detach(), lin.bias.detach()
    gold = reference_forward(x.double(), w.double(), bias.double(), *CONSTANTS)
    for emulate in (False, True):
        cfg = mn._CONFIGS["sm90"][1]
        block_n, block_m = cfg["BLOCK_N"], cfg["BLOCK_M"]
        lo = torch.empty_like(x)
        mn._prepare_b_kernel[(triton.cdiv(M, 32), triton.cdiv(K, 128))](x, lo, lo, lo, M, K, K, 1, MODE=1,
                                                                        WRITE_HI=False, FLAG_INF=False,
                                                                        BLOCK_M=32, BLOCK_K=128)
        tiles = triton.cdiv(N, block_n)
        pmax = torch.empty(tiles, M, device="cuda")
        psum = torch.empty(tiles, M, device="cuda")
        out = torch.empty(M, 1, device="cuda")
        mn._register_lse_partials_kernel[(tiles * triton.cdiv(M, block_m),)](
            w, x, lo, bias, pmax, psum, pmax, pmax, N, M, K, K, 1, K, 1, *CONSTANTS,
            MODE=1, HAS_BIAS=True, EMULATE=emulate, ACC_DTYPE=tl.float32, USE_TMA=False, SYNC_RS=True, STORE_P=False,
            STORE_E=False,
            ONLY_FLAGGED=False, BLOCK_N=block_n, BLOCK_M=block_m, BLOCK_K=cfg["BLOCK_K"], GROUP_M=cfg["GROUP_M"],
            num_warps=cfg["num_warps"], num_stages=cfg["num_stages"])
        mn._lse_mish_combine_kernel[(triton.cdiv(M, 256),)](pmax, psum, out, out, M, tiles, 1, SAVE_LSE=False,
                                                            BLOCK=256)
        rel = float((out.double() - gold).norm() / gold.norm())
        print(f"fp32 mode, explicit x truncation={emulate}: rel-L2 vs fp64 {rel:.3e}")

    # The same decomposition in float64 on the GPU: what the 3xtf32 split can reach with exact accumulation.
    x_t = bits(x, "trunc").double()
    lo = bits(x - bits(x, "trunc"), "round").double()
    w_hi = bits(w, "round")
    w_lo = bits(w - w_hi, "round").double()
    w_hi = w_hi.double()
    y = w_hi @ x_t.T + w_hi @ lo.T + w_lo @ x_t.T
    z = (y.T + bias.double()) * 2.0
    z = torch.clamp(z + z, *CONSTANTS[1:])
    z = torch.logsumexp(z, dim=1, keepdim=True)
    z = z * torch.nn.functional.mish(z)
    print(f"3xtf32 split with float64 accumulation: rel-L2 vs fp64 {float((z - gold).norm() / gold.norm()):.3e}")


if __name__ == "__main__":
    main()
