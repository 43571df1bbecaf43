"""One call of each register-operand kernel role at the headline, between cudaProfilerStart/Stop, for NCU (see
h100_session6.sh mode 2): the fp32 and bf16 forwards, then the tf32 backward (dX and dW products)."""
import torch

from lsemish.model_new import linear_lse_mish
from lsemish.problems.problem22 import CONSTANTS

M, K, N = 1024, 8192, 8192
torch.manual_seed(0)
x = torch.rand(M, K, device="cuda")
w = torch.randn(N, K, device="cuda") / K**0.5
b = torch.randn(N, device="cuda")
xg, wg, bg = (t.clone().requires_grad_() for t in (x, w, b))
g = torch.randn(M, 1, device="cuda")
for _ in range(2):  # compile and warm up outside the profiled range
    for p in ("fp32", "bf16"):
        linear_lse_mish(x, w, b, *CONSTANTS, p)
    linear_lse_mish(xg, wg, bg, *CONSTANTS, "tf32").backward(g)
torch.cuda.synchronize()
torch.cuda.profiler.start()
for p in ("fp32", "bf16"):
    linear_lse_mish(x, w, b, *CONSTANTS, p)
linear_lse_mish(xg, wg, bg, *CONSTANTS, "tf32").backward(g)
torch.cuda.synchronize()
torch.cuda.profiler.stop()
