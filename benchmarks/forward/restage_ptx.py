"""Does Triton keep the wgmma pipeline full when an operand is converted in registers on its way to the tensor core?
Compiles (no GPU needed) a plain TMA GEMM loop for sm_90 three ways and counts the waits in its PTX: both operands
straight from the TMA copies (CONVERT 0), W cast to bf16 in registers (1: the bf16 mode's need), W rounded to tf32
in registers (2: the fp32 and register-operand modes' need). B operands must sit in shared memory, so Triton writes
the converted tile back there (st.shared, fence.proxy.async) before the wgmma reads it. "waits" lists the
wgmma.wait_group arguments: [1, 0] is a pipelined loop (one group in flight, then the final drain), [0] a loop that
drains the tensor core every K step, as the register-operand kernels do.

    python3 benchmarks/forward/restage_ptx.py
"""
import re

import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource


@triton.jit
def k_ss(x_desc, w_desc, out_ptr, M, N, K, CONVERT: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
         BLOCK_K: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.maximum(tl.cdiv(K, BLOCK_K), 1)):
        a = x_desc.load([pid_m * BLOCK_M, k * BLOCK_K])
        w = w_desc.load([pid_n * BLOCK_N, k * BLOCK_K])
        if CONVERT == 1:
            acc = tl.dot(a, w.to(tl.bfloat16).T, acc)
        elif CONVERT == 2:  # W rounded to tf32 in registers, then back to shared memory
            bits = w.to(tl.int32, bitcast=True)
            w = ((bits + 4096) & -8192).to(tl.float32, bitcast=True)
            acc = tl.dot(a, w.T, acc, input_precision="tf32")
        else:
            acc = tl.dot(a, w.T, acc)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    tl.store(out_ptr + offs_m[:, None] * N + offs_n[None, :], acc)


PATTERNS = (("wgmma", "wgmma.mma_async"), ("st.shared", "st.shared"), ("fence", "fence.proxy.async"),
            ("bar.sync", "bar.sync"))


def compile(convert, bm, bn, bk, warps, stages):
    # one kernel for sm_90; prints shared memory, the waits and the counts of the instructions named above
    xt = "bf16" if convert == 1 else "fp32"
    sig = {"x_desc": f"tensordesc<{xt}[{bm},{bk}]>", "w_desc": f"tensordesc<fp32[{bn},{bk}]>", "out_ptr": "*fp32",
           "M": "i32", "N": "i32", "K": "i32", "CONVERT": "constexpr", "BLOCK_M": "constexpr",
           "BLOCK_N": "constexpr", "BLOCK_K": "constexpr"}
    constexprs = {"CONVERT": convert, "BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}
    k = triton.compile(ASTSource(fn=k_ss, signature=sig, constexprs=constexprs), target=GPUTarget("cuda", 90, 32),
                       options={"num_warps": warps, "num_stages": stages})
    ptx = k.asm["ptx"]
    waits = re.findall(r"wgmma\.wait_group\.sync\.aligned\s+(\d+)", ptx)
    counts = {name: len(re.findall(pattern, ptx)) for name, pattern in PATTERNS}
    print(f"convert={convert} {bm}x{bn}x{bk} w{warps} s{stages}: shared {k.metadata.shared}, waits {waits}, {counts}",
          flush=True)


if __name__ == "__main__":
    print("triton", triton.__version__)
    for conv in (0, 1, 2):
        compile(conv, 128, 128, 64 if conv == 1 else 32, 8, 3)
