"""Compile every GEMM config (forward, grad-x and grad-W roles) for a GPU target without a GPU: shared memory,
registers, spills, tensor-core ops.

`triton.compile` with a `GPUTarget` runs the whole NVIDIA pipeline (TTIR -> TTGIR -> LLVM -> PTX -> cubin with the
bundled ptxas) on any machine, so we can prove on a CPU box that each config fits the target's shared memory and
lowers its dots to tensor-core instructions (`mma.sync` on sm_89, `wgmma.mma_async` on sm_90). Triton's bundled
cuobjdump reads registers and local memory (spills) off the cubin and disassembles it, so the report also counts
wgmma register hazards (`sass_check`), and a second ptxas run reports whether ptxas serialized the wgmmas.
"""
from __future__ import annotations

import inspect
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
    role: str
    config: dict
    shared: int
    registers: int
    spills: int
    tensor_core_ops: int
    ptx_mma_kind: str
    ptxas_advisories: tuple = ()
    hgmma_in_loop: int = 0
    wgmma_hazards: int = 0
    sync_rs: bool = False
    a_operand: str = ""  # sm_90: where the first wgmma reads its A operand ("shared memory" or "registers")

    @property
    def fits(self) -> bool:
        return self.shared <= SMEM_LIMIT[self.arch]


# forward_p: the training forward, which stores P; inf_pass (fp32 mode only): the second pass over rows of x holding
# +-inf, one rounded-W product with the fp32 config
ROLES = ("forward", "forward_p", "grad_x", "grad_w")
FORWARD_ROLES = ("forward", "forward_p", "inf_pass")  # the partial-LSE epilogue; the others store dX or dW


_FLOATS = ("scale", "clamp_min", "clamp_max")  # the kernels' float arguments; every other plain argument is an int


def _signature_of(kernel, types, constexprs):
    """A kernel's signature read from the kernel itself (its parameters, in order): "constexpr" for each constexpr
    parameter and for each name in `constexprs` (a unit stride, as Triton specializes it at launch), the type in
    `types` for each pointer and tensor descriptor, fp32 for _FLOATS and i32 for every other argument. A pointer or
    descriptor without a type, or a constexpr parameter without a value, is an error naming it: the kernel changed."""
    sig, fn = {}, kernel.fn  # the Python function (a JITFunction's or the interpreter's)
    for param in inspect.signature(fn).parameters.values():
        name = param.name
        if "constexpr" in str(param.annotation) or name in constexprs:  # tl.constexpr, or its text
            if name not in constexprs:
                raise ValueError(f"{fn.__name__}: no value for its constexpr {name}")
            sig[name] = "constexpr"
        elif name.endswith(("_ptr", "_desc")):
            if name not in types:
                raise ValueError(f"{fn.__name__}: no type for {name}")
            sig[name] = types[name]
        else:
            sig[name] = "fp32" if name in _FLOATS else "i32"
    return sig


def _register_kernel(mode: int, role: str):
    """(kernel, pointer types, unit strides) of a register-operand kernel in one role."""
    x_ty = "*bf16" if mode == 3 else "*fp32"
    b_ty = {0: "*fp32", 1: "*fp32", 2: "*bf16", 3: "*bf16"}[mode]
    # unit strides are constexpr 1, as Triton specializes them at launch: A's inner stride runs along K in the
    # forward and along N (A read transposed) in the backward; dX is stored transposed, dW straight.
    if role in FORWARD_ROLES:
        # a bf16 model's training forward saves E in bf16 (problem 22's clamp: model_new.p_dtype)
        p_ty = "*bf16" if mode == 3 and role == "forward_p" else "*fp32"
        types = {"w_ptr": x_ty, "b_ptr": b_ty, "lo_ptr": "*fp32", "bias_ptr": x_ty, "part_max_ptr": "*fp32",
                 "part_sum_ptr": "*fp32", "p_ptr": p_ty, "flag_ptr": "*i32"}
        return mn._register_lse_partials_kernel, types, ("stride_wk", "stride_bk")
    types = {"a_ptr": x_ty, "b_ptr": b_ty, "lo_ptr": "*fp32", "out_ptr": x_ty}
    return mn._register_grad_product_kernel, types, ("stride_an", "stride_bk",
                                                     "stride_on" if role == "grad_x" else "stride_om")


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


def compile_config(arch: int, mode: int, config: dict, sync_rs: bool | None = None,
                   role: str = "forward") -> CompiledConfig:
    """Compile a register-operand kernel for `sm_<arch>` with one config (a record of model_new._CONFIGS), in one
    role (ROLES, or inf_pass), with unit strides where the wrapper's operands have them at run time.

    sync_rs defaults to what the wrapper passes (on for sm_90); False reproduces Triton's own, racy pipelining.
    """
    sync_rs = (arch == 90) if sync_rs is None else sync_rs
    forward = role in FORWARD_ROLES
    kernel_fn, types, unit_strides = _register_kernel(mode, role)
    constexprs = {name: 1 for name in unit_strides}
    constexprs.update({"MODE": 0 if role == "inf_pass" else mode, "EMULATE": False, "ACC_DTYPE": tl.float32,
                       "USE_TMA": config["tma"], "SYNC_RS": sync_rs})
    constexprs.update({k: v for k, v in config.items() if k.isupper()})
    if forward:
        constexprs.update({"HAS_BIAS": True, "STORE_P": role == "forward_p", "ONLY_FLAGGED": role == "inf_pass",
                           "STORE_E": mode == 3 and role == "forward_p"})
    sig = _signature_of(kernel_fn, types, constexprs)
    # 16-byte alignment of pointers and divisibility of the non-unit strides, as Triton specializes them at launch.
    attrs = {(i,): [["tt.divisibility", 16]] for i, name in enumerate(sig)
             if name.endswith("_ptr") or (name.startswith("stride") and sig[name] == "i32")}
    src = ASTSource(fn=kernel_fn, signature=sig, constexprs=constexprs, attrs=attrs)
    return _tensor_core_row(src, arch, config, MODE_NAMES[mode], role, dict(config), sync_rs=sync_rs)


def _tensor_core_row(src, arch, launch, mode, role, config, **extra) -> CompiledConfig:
    """Compile `src` for sm_<arch> with `launch`'s warps and stages; the report's row for a tensor-core kernel."""
    kernel = triton.compile(src, target=GPUTarget("cuda", arch, 32),
                            options={"num_warps": launch["num_warps"], "num_stages": launch["num_stages"]})
    ptx = kernel.asm["ptx"]
    kind = "wgmma" if "wgmma.mma_async" in ptx else ("mma.sync" if "mma.sync" in ptx else "none")
    regs, local, advisories, sass = _cubin_facts(kernel.asm["cubin"], ptx, arch)
    n_hgmma, hazards = hgmma_loop_hazards(sass)
    return CompiledConfig(arch=arch, mode=mode, role=role, config=config, shared=kernel.metadata.shared,
                          registers=regs, spills=local, tensor_core_ops=len(re.findall(TC_PATTERN[arch], ptx)),
                          ptx_mma_kind=kind, ptxas_advisories=advisories, hgmma_in_loop=n_hgmma,
                          wgmma_hazards=len(hazards), a_operand=_a_operand(ptx), **extra)


TMA_DTYPES = {"fp32": 4, "bf16": 2, "fp16": 2}  # the TMA forward's operand types (tf32 from fp32), element bytes


def _a_operand(ptx):
    """Where the first wgmma of the PTX reads A: after the accumulator's register list comes either A's shared-memory
    descriptor (a 64-bit register) or A's own register list."""
    match = re.search(r"wgmma\.mma_async[^{]*\{[^}]*\},\s*(\S)", ptx)
    return "" if match is None else ("registers" if match.group(1) == "{" else "shared memory")


def compile_tma_forward(arch: int = 90, which: str = "large", training: bool = False,
                        dtype: str = "fp32") -> CompiledConfig:
    """The TMA forward (Hopper only: sm_89 has no TMA) of fp32 operands (tf32-rounded; inference and training) or of
    a bf16 or fp16 model (inference; training, which saves E, for bf16), in one of its configs: "small", "medium"
    or "large" (_tf32_lse_mish_kernel), or "few" (_tf32_lse_mish_few_rows_kernel at its most rows); BLOCK_K scaled
    by the operands' size as model_new._tma_config_for scales it."""
    configs = mn._TF32_TMA_CONFIGS[ARCH_KEY[arch]]
    size = TMA_DTYPES[dtype]
    cfg = mn._few_rows(configs, configs["FEW_M"], False, size) if which == "few" else \
        mn._tma_config_for(configs[which], size)
    bm, bn, bk = cfg["BLOCK_M"], cfg["BLOCK_N"], cfg["BLOCK_K"]
    save_e = training and dtype == "bf16"  # a bf16 model's training forward saves E (model_new.p_dtype)
    types = {"x_desc": f"tensordesc<{dtype}[{bm},{bk}]>", "w_desc": f"tensordesc<{dtype}[{bn},{bk}]>",
             "p_desc": f"tensordesc<{'bf16' if save_e else 'fp32'}[{bm},{bn}]>", "bias_ptr": f"*{dtype}",
             "part_ptr": "*fp32",
             "count_ptr": "*i32", "out_ptr": f"*{dtype}", "lse_ptr": "*fp32"}
    if which == "few":
        fn, constexprs = mn._tf32_lse_mish_few_rows_kernel, {"HAS_BIAS": True, "EMULATE": False, "FIXED_MAX": True}
    else:
        fn = mn._tf32_lse_mish_kernel
        # problem 22's clamp bounds fix the partials' max (model_new.fixed_max)
        constexprs = {"HAS_BIAS": True, "EMULATE": False, "FIXED_MAX": True, "SAVE_P": training, "SAVE_E": save_e,
                      "SAVE_LSE": training}
    constexprs.update({k: v for k, v in cfg.items() if k.isupper()})
    sig = _signature_of(fn, types, constexprs)
    src = ASTSource(fn=fn, signature=sig, constexprs=constexprs,
                    attrs={(i,): [["tt.divisibility", 16]] for i, name in enumerate(sig) if name.endswith("_ptr")})
    return _tensor_core_row(src, arch, cfg, f"{'tf32' if dtype == 'fp32' else dtype}-tma-{which}",
                            "forward_p" if training else "forward", {**cfg, "tma": True})


def compile_smem_grad(arch: int = 90, dtype: str = "bf16", transposed: bool = False) -> CompiledConfig:
    """A 16-bit model's backward product through TMA and shared memory (_smem_grad_product_kernel; Hopper only):
    grad x (G as stored) or, transposed, grad W (G's tiles read transposed in shared memory)."""
    cfg = mn._SMEM_GRAD_CONFIGS[ARCH_KEY[arch]]
    br, bc, bk = cfg["BLOCK_R"], cfg["BLOCK_C"], cfg["BLOCK_K"]
    a_block = f"[{bk},{br}]" if transposed else f"[{br},{bk}]"
    types = {"a_desc": f"tensordesc<{dtype}{a_block}>", "b_desc": f"tensordesc<{dtype}[{bk},{bc}]>",
             "out_ptr": f"*{dtype}", "out_desc": f"tensordesc<{dtype}[{br},{bc // 2}]>"}
    constexprs = {"TRANS_A": transposed, "EMULATE": False, "TMA_STORE": False, "PROGRAMS": 132,  # an H100's SMs
                  **{k: v for k, v in cfg.items() if k.isupper()}}
    if not constexprs["TMA_STORE"]:
        constexprs["out_desc"] = None
    sig = _signature_of(mn._smem_grad_product_kernel, types, constexprs)
    src = ASTSource(fn=mn._smem_grad_product_kernel, signature=sig, constexprs=constexprs,
                    attrs={(i,): [["tt.divisibility", 16]] for i, name in enumerate(sig) if name.endswith("_ptr")})
    return _tensor_core_row(src, arch, cfg, f"{dtype}-smem", "grad_w" if transposed else "grad_x",
                            {**cfg, "tma": True})


def compile_fma_forward(arch: int = 90, rows: int = 8) -> CompiledConfig:
    """The exact-fp32 few-rows forward (_fma_lse_mish_few_rows_kernel) for `rows` rows of x: CUDA-core FMAs by design
    (no tensor-core op); tensor_core_ops counts its fma.rn.f32 instructions instead, and ptx_mma_kind says "fma" when
    W's loads are 16-byte vectors that bypass L1 (ld.global.cg.v4)."""
    cfg = mn._fma_config(ARCH_KEY[arch])
    types = {"x_ptr": "*fp32", "w_ptr": "*fp32", "bias_ptr": "*fp32", "part_ptr": "*fp32", "count_ptr": "*i32",
             "out_ptr": "*fp32"}
    constexprs = {"stride_xk": 1, "stride_wk": 1, "HAS_BIAS": True, "BLOCK_M": triton.next_power_of_2(rows),
                  **{k: v for k, v in cfg.items() if k.isupper()}}
    sig = _signature_of(mn._fma_lse_mish_few_rows_kernel, types, constexprs)
    # pointers 16-byte aligned, K and the row strides multiples of 16, as Triton specializes them at launch
    divisible = [i for i, name in enumerate(sig) if name.endswith("_ptr") or name in ("K", "stride_xm", "stride_wn")]
    src = ASTSource(fn=mn._fma_lse_mish_few_rows_kernel, signature=sig, constexprs=constexprs,
                    attrs={(i,): [["tt.divisibility", 16]] for i in divisible})
    kernel = triton.compile(src, target=GPUTarget("cuda", arch, 32), options={"num_warps": cfg["num_warps"]})
    ptx = kernel.asm["ptx"]
    regs, local, advisories, _ = _cubin_facts(kernel.asm["cubin"], ptx, arch)
    return CompiledConfig(arch=arch, mode="fma-few", role="forward", config={**cfg, "rows": rows, "tma": False},
                          shared=kernel.metadata.shared, registers=regs, spills=local,
                          tensor_core_ops=ptx.count("fma.rn.f32"),
                          ptx_mma_kind="fma" if "ld.global.cg.v4" in ptx else "none",
                          ptxas_advisories=advisories)


def all_configs():
    """Yield (arch, mode, config, role) for every shipped GPU config in each of its three roles."""
    for arch, key in ARCH_KEY.items():
        for mode, config in mn._CONFIGS[key].items():
            for role in ROLES + (("inf_pass",) if mode == 1 else ()):
                yield arch, mode, config, role


def report() -> list[CompiledConfig]:
    return ([compile_config(arch, mode, config, role=role) for arch, mode, config, role in all_configs()]
            + [compile_tma_forward(90, which, dtype=dtype) for dtype in TMA_DTYPES
               for which in ("small", "medium", "large", "few")]
            + [compile_tma_forward(90, "large", training=True, dtype="bf16")]
            + [compile_smem_grad(90, dtype, transposed) for dtype in ("bf16", "fp16") for transposed in (False, True)]
            + [compile_fma_forward(arch, rows) for arch in ARCH_KEY for rows in (1, 8)])


def main():
    """Print one JSON line per config (run without TRITON_INTERPRET, which replaces kernels by interpreted ones)."""
    import json
    from dataclasses import asdict
    for r in report():
        print(json.dumps({**asdict(r), "fits": r.fits, "limit": SMEM_LIMIT[r.arch]}), flush=True)


if __name__ == "__main__":
    main()
