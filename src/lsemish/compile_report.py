"""Compile every GEMM config for a GPU target without a GPU: shared memory, registers, spills, tensor-core ops.

`triton.compile` with a `GPUTarget` runs the whole NVIDIA pipeline (TTIR -> TTGIR -> LLVM -> PTX -> cubin with the
bundled ptxas) on any machine, so we can prove on a CPU box that each config fits the target's shared memory and
lowers its dots to tensor-core instructions (`mma.sync` on sm_89, `wgmma.mma_async` on sm_90). Triton's bundled
cuobjdump reads registers and local memory (spills) off the cubin and disassembles it, so the report also counts
wgmma register hazards (`sass_check`), and a second ptxas run reports whether ptxas serialized the wgmmas.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass

import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from . import model_new as mn
from .sass_check import hgmma_loop_hazards

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
    ptxas_advisories: tuple = ()
    hgmma_in_loop: int = 0
    wgmma_hazards: int = 0
    sync_rs: bool = False

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
    for name in ("MODE", "HAS_BIAS", "EMULATE", "ACC_DTYPE", "USE_TMA", "PROMOTE", "SYNC_RS", "BLOCK_N", "BLOCK_M",
                 "BLOCK_K", "GROUP_M"):
        sig[name] = "constexpr"
    return sig


def _tool(name):
    import triton.knobs as knobs
    return getattr(knobs.nvidia, name).path


def _cubin_facts(cubin: bytes, ptx: str, arch: int):
    """(registers, local bytes, ptxas advisories, SASS text) of one compiled kernel."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "k.cubin")
        with open(path, "wb") as f:
            f.write(cubin)
        res = subprocess.run([_tool("cuobjdump"), "-res-usage", path], capture_output=True, text=True).stdout
        sass = subprocess.run([_tool("cuobjdump"), "-sass", path], capture_output=True, text=True).stdout
        ptx_path = os.path.join(tmp, "k.ptx")
        with open(ptx_path, "w") as f:
            f.write(ptx)
        gpu = "sm_90a" if arch == 90 else f"sm_{arch}"
        log = subprocess.run([_tool("ptxas"), f"-arch={gpu}", "-v", ptx_path, "-o", os.path.join(tmp, "v.cubin")],
                             capture_output=True, text=True)
    regs = re.search(r"REG:(\d+)", res)
    local = re.search(r"LOCAL:(\d+)", res)
    advisories = tuple(sorted(set(re.findall(r"\((C75\d\d)\)", log.stdout + log.stderr))))
    return int(regs.group(1)) if regs else -1, int(local.group(1)) if local else -1, advisories, sass


def compile_config(arch: int, mode: int, config: tuple, sync_rs: bool | None = None) -> CompiledConfig:
    """Compile the partial-LSE GEMM kernel for `sm_<arch>` with one config; contiguous K (stride 1), as at run time.

    sync_rs defaults to what the wrapper passes (on for sm_90); False reproduces Triton's own, racy pipelining.
    """
    block_n, block_m, block_k, group_m, warps, stages, tma = config
    sync_rs = (arch == 90) if sync_rs is None else sync_rs
    constexprs = {"stride_wk": 1, "stride_xk": 1, "MODE": mode, "HAS_BIAS": True, "EMULATE": False,
                  "ACC_DTYPE": tl.float32, "BLOCK_N": block_n, "BLOCK_M": block_m, "BLOCK_K": block_k,
                  "GROUP_M": group_m, "USE_TMA": tma, "PROMOTE": True, "SYNC_RS": sync_rs}
    # 16-byte alignment of pointers and divisibility of the leading stride, as Triton specializes them at launch.
    attrs = {(i,): [["tt.divisibility", 16]] for i in (0, 1, 2, 3, 4, 5, 9, 11)}
    src = ASTSource(fn=mn._linear_lse_partial_kernel, signature=_signature(mode), constexprs=constexprs,
                    attrs=attrs)
    kernel = triton.compile(src, target=GPUTarget("cuda", arch, 32),
                            options={"num_warps": warps, "num_stages": stages})
    ptx = kernel.asm["ptx"]
    ops = len(re.findall(TC_PATTERN[arch], ptx))
    kind = "wgmma" if "wgmma.mma_async" in ptx else ("mma.sync" if "mma.sync" in ptx else "none")
    regs, local, advisories, sass = _cubin_facts(kernel.asm["cubin"], ptx, arch)
    n_hgmma, hazards = hgmma_loop_hazards(sass)
    return CompiledConfig(arch=arch, mode=MODE_NAMES[mode], config=config, shared=kernel.metadata.shared,
                          registers=regs, spills=local, tensor_core_ops=ops, ptx_mma_kind=kind,
                          ptxas_advisories=advisories, hgmma_in_loop=n_hgmma, wgmma_hazards=len(hazards),
                          sync_rs=sync_rs)


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
