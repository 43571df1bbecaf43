"""PTX of the TMA and FMA forward kernels at every shipped fp32 config and role, hashed without line tables and
debug sections (CPU: triton.compile with a GPUTarget, through compile_report). Run before and after a change to
model_new.py to show that the fp32 kernels' code did not change (run without TRITON_INTERPRET):

    PYTHONPATH=src python benchmarks/forward/ptx_hashes.py > hashes.json
"""
import hashlib
import json
import re

import triton

from lsemish import compile_report


def code(ptx):
    """PTX without its line table and debug sections: source lines move when code above a kernel changes."""
    ptx = re.split(r"\n\s*\.section\s+\.debug", ptx)[0]
    return "\n".join(line for line in ptx.splitlines()
                     if not line.strip().startswith((".loc", ".file", "//", "$L__")))


def main():
    compiled = []
    real = triton.compile

    def keep(src, target=None, options=None):
        kernel = real(src, target=target, options=options)
        compiled.append(kernel)
        return kernel
    compile_report.triton.compile = keep
    hashes = {}

    def record(name):
        hashes[name] = hashlib.sha256(code(compiled[-1].asm["ptx"]).encode()).hexdigest()[:16]
    for which in ("small", "medium", "large", "few"):
        for training in ((False, True) if which != "few" else (False,)):
            compile_report.compile_tma_forward(90, which, training)
            record(f"tma-{which}-{training}")
    for arch in (89, 90):
        for rows in (1, 8):
            compile_report.compile_fma_forward(arch, rows)
            record(f"fma-{arch}-{rows}")
    print(json.dumps(hashes, indent=0))


if __name__ == "__main__":
    main()
