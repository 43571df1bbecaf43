"""Session 22 diagnosis (#25): does the worker's seccomp filter slow its host work (a kernel that turns on the
speculative-store-bypass mitigation for seccomp'ed processes, as Linux before 5.16 did by default)? Each variant in a
fresh process pinned to one CPU: no filter; the worker's filter (TSYNC); the same with SECCOMP_FILTER_FLAG_SPEC_ALLOW.
Prints the process's Speculation_* lines and host times: pure Python, a torch launch, a Triton launch (us per call).

    PYTHONPATH=src python diag_seccomp.py            (runs the variants, interleaved, twice)
"""
import json
import os
import subprocess
import sys
import time

VARIANTS = {"none": None, "filter": 1, "filter+spec_allow": 1 | 4}


def child(variant):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    import ctypes
    import platform

    import torch
    import triton
    import triton.language as tl

    from lsemish.evaluate import seccomp

    @triton.jit
    def softplus_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
        tl.store(y_ptr + offs, tl.maximum(x, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(x))), mask=offs < n)

    x = torch.randn(512, 4096, device="cuda")
    y = torch.empty_like(x)
    softplus_kernel[(2048,)](x, y, x.numel(), BLOCK=1024)
    torch.cuda.synchronize()
    flags = VARIANTS[variant]
    installed = None
    if flags is not None:
        audit_arch, column, nr = seccomp._ARCHES[platform.machine().lower()]
        code, count = seccomp._program(audit_arch, column)
        buf = ctypes.create_string_buffer(code, len(code))

        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
        prog = Prog(count, ctypes.addressof(buf))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(38, 1, 0, 0, 0)
        rc = libc.syscall(nr, 1, flags, ctypes.byref(prog))
        installed = rc == 0 or os.strerror(ctypes.get_errno())
    status = [ln.strip() for ln in open("/proc/self/status") if ln.startswith(("Speculation", "Seccomp"))]

    def per_call_us(fn, n):
        for _ in range(50):
            fn()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(n):
            fn()
            if i % 200 == 199:
                torch.cuda.synchronize()
        torch.cuda.synchronize()
        return (time.perf_counter() - t) / n * 1e6

    def python_work():
        d = {}
        for i in range(200):
            d[i] = (i, str(i))
        return sum(len(v[1]) for v in d.values())

    times = {"python_us": per_call_us(python_work, 3000),
             "torch_launch_us": per_call_us(lambda: torch.nn.functional.softplus(x), 3000),
             "triton_launch_us": per_call_us(lambda: softplus_kernel[(2048,)](x, y, x.numel(), BLOCK=1024), 3000)}
    print(json.dumps({"variant": variant, "installed": installed, "status": status,
                      **{k: round(v, 2) for k, v in times.items()}}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        child(sys.argv[1])
    else:
        print(json.dumps({"uname": os.uname().release, "spec_store_bypass": open(
            "/sys/devices/system/cpu/vulnerabilities/spec_store_bypass").read().strip(),
            "cmdline": open("/proc/cmdline").read().strip()}), flush=True)
        for _ in range(2):
            for v in VARIANTS:
                subprocess.run([sys.executable, __file__, v], check=False)
