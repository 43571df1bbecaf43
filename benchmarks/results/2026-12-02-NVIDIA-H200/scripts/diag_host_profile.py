"""Session 22 diagnosis (#22): where the host time of one tf32 / fp32 inference call goes in two copies of the
deliverable (old 9106585, new): linear_lse_mish at 16x64x64, 3000 calls unprofiled, then 3000 under cProfile; top
functions by own time.

    PYTHONPATH=src:benchmarks/host python diag_host_profile.py .carry/old_model_new.py:old src/lsemish/model_new.py:new
"""
import cProfile
import io
import pstats
import sys
import time

import torch
from ab_modules import load

from lsemish.problems.problem22 import CONSTANTS

M, K, N = 16, 64, 64
torch.backends.cuda.matmul.allow_tf32 = True
torch.manual_seed(0)
x, w, b = torch.rand(M, K, device="cuda"), torch.randn(N, K, device="cuda") / 8, torch.randn(N, device="cuda")
for spec in sys.argv[1:]:
    label, mod = load(spec)
    for precision in ("tf32", "fp32"):
        def call():
            return mod.linear_lse_mish(x, w, b, *CONSTANTS, precision)
        for _ in range(50):
            call()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(3000):
            call()
        plain = (time.perf_counter() - t) / 3000 * 1e6
        torch.cuda.synchronize()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(3000):
            call()
        prof.disable()
        torch.cuda.synchronize()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(18)
        print(f"===== {label} {precision}: {plain:.2f} us per call unprofiled", flush=True)
        print(s.getvalue()[-4500:], flush=True)
