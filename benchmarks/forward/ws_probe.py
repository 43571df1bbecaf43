"""Does this Triton warp-specialize a loop on Hopper? (issue 23: the overlap of a tile's epilogue with the next
tile's copies.) Compiles, for sm_90 and without a GPU, a plain persistent TMA matmul (warp_specialize on the tile
loop) and a one-tile one (on the K loop), 4 and 8 warps, and prints per variant whether the TTGIR holds a
`ttg.warp_specialize` op and how many `setmaxnreg` the PTX has (both 0 when the request was not applied), or the
error that stopped the compile.

    python3 benchmarks/forward/ws_probe.py      (TRITON_INTERPRET unset)
"""
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource


@triton.jit
def tile_loop(a_desc, b_desc, c_desc, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
              PROGRAMS: tl.constexpr):
    tiles_n = tl.cdiv(N, BN)
    for tile in tl.range(tl.program_id(0), tl.cdiv(M, BM) * tiles_n, PROGRAMS, flatten=False, warp_specialize=True):
        pm, pn = tile // tiles_n, tile % tiles_n
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k in range(0, tl.cdiv(K, BK)):
            acc = tl.dot(a_desc.load([pm * BM, k * BK]), b_desc.load([pn * BN, k * BK]).T, acc)
        c_desc.store([pm * BM, pn * BN], acc.to(tl.bfloat16))


@triton.jit
def k_loop(a_desc, b_desc, c_desc, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
           PROGRAMS: tl.constexpr):
    tiles_n = tl.cdiv(N, BN)
    pm, pn = tl.program_id(0) // tiles_n, tl.program_id(0) % tiles_n
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in tl.range(0, tl.cdiv(K, BK), warp_specialize=True):
        acc = tl.dot(a_desc.load([pm * BM, k * BK]), b_desc.load([pn * BN, k * BK]).T, acc)
    c_desc.store([pm * BM, pn * BN], acc.to(tl.bfloat16))


def main():
    sig = {"a_desc": "tensordesc<bf16[128,64]>", "b_desc": "tensordesc<bf16[256,64]>",
           "c_desc": "tensordesc<bf16[128,256]>", "M": "i32", "N": "i32", "K": "i32", "BM": "constexpr",
           "BN": "constexpr", "BK": "constexpr", "PROGRAMS": "constexpr"}
    print(f"triton {triton.__version__}")
    for fn in (tile_loop, k_loop):
        for warps in (4, 8):
            src = ASTSource(fn=fn, signature=sig, constexprs=dict(BM=128, BN=256, BK=64, PROGRAMS=132))
            try:
                k = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": warps,
                                                                                  "num_stages": 3})
            except Exception as e:  # noqa: BLE001 (what stopped it is the answer)
                print(f"{fn.__name__} {warps} warps: does not compile: {str(e).splitlines()[0][:160]}")
                continue
            applied = "ttg.warp_specialize(" in k.asm["ttgir"] or "ttg.warp_specialize " in k.asm["ttgir"]
            print(f"{fn.__name__} {warps} warps: warp_specialize op {applied}, setmaxnreg "
                  f"{k.asm['ptx'].count('setmaxnreg')}, shared {k.metadata.shared}")


if __name__ == "__main__":
    main()
