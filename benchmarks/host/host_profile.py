"""Where the host time of one lsemish forward call goes: cProfile over many calls at a small shape (GPU)."""
import cProfile
import pstats
import sys

import torch

from lsemish import ModelNew
from lsemish.problems.problem22 import init_inputs

M, K, N = (int(v) for v in (sys.argv[1] if len(sys.argv) > 1 else "16,1024,1024").split(","))
model = ModelNew(*init_inputs(K, N)).cuda()
x = torch.rand(M, K, device="cuda")
with torch.no_grad():
    for _ in range(10):
        model(x)
    torch.cuda.synchronize()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(2000):
        model(x)
    prof.disable()
    torch.cuda.synchronize()
pstats.Stats(prof).sort_stats("tottime").print_stats(30)
