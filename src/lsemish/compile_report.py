"""Compile every GEMM config for a GPU target without a GPU: shared memory, registers, spills, tensor-core ops.

`triton.compile` with a `GPUTarget` runs the whole NVIDIA pipeline (TTIR -> TTGIR -> LLVM -> PTX -> cubin with the
bundled ptxas) on any machine, so we can prove on a CPU box that each config fits the target's shared memory and
lowers its dots to tensor-core instructions (`mma.sync` on sm_89, `wgmma.mma_async` on sm_90).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from . import model_new as mn

# Per-block shared memory limits (bytes): the 4090 (sm_89) allows 99 KB, Hopper 227 KB.
SMEM_LIMIT = {89: 101376, 90: 232448}
ARCH_KEY = {89: "sm89", 90: "sm90"}
MODE_NAMES = {0: "tf32", 1: "fp32", 2: "bf16", 3: "native-bf16"}
TC_PATTERN = {89: r"\bmma\.sync\.aligned\.", 90: r"\bwgmma\.mma_async\."}


@dataclass
class CompiledConfig:
    arch: int
    mode: str
    config: tuple
    shared: int
    registers: int
    spills: int
    tensor_core_ops: int
    ptx_mma_kind: str

    @property
    def fits(self) -> bool:
        return self.shared <= SMEM_LIMIT[self.arch]


def _signature(mode: int):
    x_ty = "*bf16" if mode == 3 else "*fp32"
    xp_ty = {0: "*fp32", 1: "*fp32", 2: "*bf16", 3: "*bf16"}[mode]
    sig = {
        "w_ptr": x_ty, "x_ptr": x_ty, "xp_ptr": xp_ty, "b_ptr": x_ty,
        "part_max_ptr": "*fp32", "part_sum_ptr": "*fp32",
        "M": "i32", "N": "i32", "K": "i32",
        "stride_wn": "i32", "stride_wk": "constexpr", "stride_xm": "i32", "stride_xk": "constexpr",
        "scale": "fp32", "clamp_min": "fp32", "clamp_max": "fp32",
    }
    for name in ("MODE", "HAS_BIAS", "EMULATE", "ACC_DTYPE", "USE_TMA", "PROMOTE", "BLOCK_N", "BLOCK_M", "BLOCK_K", "GROUP_M"):
        sig[name] = "constexpr"
    return sig


def compile_config(arch: int, mode: int, config: tuple) -> CompiledConfig:
    """Compile the partial-LSE GEMM kernel for `sm_<arch>` with one config; contiguous K (stride 1), as at run time."""
    block_n, block_m, block_k, group_m, warps, stages, tma = config
    constexprs = {"stride_wk": 1, "stride_xk": 1, "MODE": mode, "HAS_BIAS": True, "EMULATE": False,
                  "ACC_DTYPE": tl.float32, "BLOCK_N": block_n, "BLOCK_M": block_m, "BLOCK_K": block_k,
                  "GROUP_M": group_m, "USE_TMA": tma, "PROMOTE": True}
    # 16-byte alignment of pointers and divisibility of the leading stride, as Triton specializes them at launch.
    attrs = {(i,): [["tt.divisibility", 16]] for i in (0, 1, 2, 3, 4, 5, 9, 11)}
    src = ASTSource(fn=mn._linear_lse_partial_kernel, signature=_signature(mode), constexprs=constexprs,
                    attrs=attrs)
    kernel = triton.compile(src, target=GPUTarget("cuda", arch, 32),
                            options={"num_warps": warps, "num_stages": stages})
    ptx = kernel.asm["ptx"]
    ops = len(re.findall(TC_PATTERN[arch], ptx))
    kind = "wgmma" if "wgmma.mma_async" in ptx else ("mma.sync" if "mma.sync" in ptx else "none")
    meta = kernel.metadata
    return CompiledConfig(arch=arch, mode=MODE_NAMES[mode], config=config, shared=meta.shared,
                          registers=kernel.n_regs if hasattr(kernel, "n_regs") else -1,
                          spills=kernel.n_spills if hasattr(kernel, "n_spills") else -1,
                          tensor_core_ops=ops, ptx_mma_kind=kind)


def all_configs():
    """Yield (arch, mode, config) for every shipped GPU config."""
    for arch, key in ARCH_KEY.items():
        for mode, config in mn._CONFIGS[key].items():
            yield arch, mode, config


def report() -> list[CompiledConfig]:
    return [compile_config(arch, mode, config) for arch, mode, config in all_configs()]


def main():
    """Print one JSON line per config (run without TRITON_INTERPRET, which replaces kernels by interpreted ones)."""
    import json
    from dataclasses import asdict
    for r in report():
        print(json.dumps({**asdict(r), "fits": r.fits, "limit": SMEM_LIMIT[r.arch]}), flush=True)


if __name__ == "__main__":
    main()
