"""KernelBench level 2, problem 22: Matmul + Scale + ResidualAdd + Clamp + LogSumExp + Mish.

The reference model and its inputs, as the seed describes them:
    y = x @ W.T + b;  y = y * scale;  y = y + y;  y = clamp(y, cmin, cmax)
    y = logsumexp(y, dim=1, keepdim=True);  out = y * mish(y)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

batch_size = 1024
input_size = 8192
hidden_size = 8192
scale_factor = 2.0
clamp_min = -10.0
clamp_max = 10.0


HEADLINE = (batch_size, input_size, hidden_size)  # M, K, N of the headline shape
CONSTANTS = (scale_factor, clamp_min, clamp_max)
CPU_SHAPE = (32, 64, 48)  # M, K, N where the kernels run through the interpreter and no --shape is given


def init_inputs(K, N):
    """The Model's (and ModelNew's) constructor arguments for input size K and hidden size N."""
    return [K, N, *CONSTANTS]


def reference_forward(x, weight, bias, scale_factor, clamp_min, clamp_max):
    """The reference computation on explicit tensors (any dtype; float64 inputs give the gold result)."""
    y = F.linear(x, weight, bias)
    y = y * scale_factor
    y = y + y
    y = torch.clamp(y, clamp_min, clamp_max)
    y = torch.logsumexp(y, dim=1, keepdim=True)
    return y * F.mish(y)


class Model(nn.Module):
    """The reference: nn.Linear, then the element-wise chain, logsumexp over features, and y * mish(y)."""

    def __init__(self, input_size, hidden_size, scale_factor, clamp_min, clamp_max):
        super().__init__()
        self.matmul = nn.Linear(input_size, hidden_size)
        self.scale_factor = scale_factor
        self.clamp_min = clamp_min
        self.clamp_max = clamp_max

    def forward(self, x):
        return reference_forward(x, self.matmul.weight, self.matmul.bias, self.scale_factor, self.clamp_min,
                                 self.clamp_max)


def get_inputs():
    return [torch.rand(batch_size, input_size)]


def edge_inputs(model, seed):
    """x whose rows put every pre-clamp value below clamp_min (even rows) or above clamp_max (odd rows), 10 to 50
    past the bound: the clamps' saturated branches, which independent random inputs never reach (a red team's
    candidate without the lower clamp passed every random distribution). x solves x W^T = target / (2 scale) - b in
    float64 for the model's own W and b: exactly where W has no more rows than columns (N <= K, the headline's
    N = K; least norm for N < K), in the least-squares sense otherwise (then the rows reach the bounds only in part)."""
    w, b = model.matmul.weight.detach().double(), model.matmul.bias.detach().double()
    gen = torch.Generator(device=w.device).manual_seed(seed)
    n, k = w.shape
    past = 10 + 40 * torch.rand(batch_size, n, generator=gen, device=w.device, dtype=torch.float64)
    low = (torch.arange(batch_size, device=w.device) % 2 == 0)[:, None]
    target = torch.where(low, model.clamp_min - past, model.clamp_max + past)
    rhs = (target / (2 * model.scale_factor) - b).T  # (N, M): W x^T = rhs
    if n >= k:
        x = torch.linalg.lstsq(w, rhs).solution
    else:
        x = w.T @ torch.linalg.solve(w @ w.T, rhs)
    return [x.T.contiguous().float()]


def get_init_inputs():
    return [input_size, hidden_size, scale_factor, clamp_min, clamp_max]  # KernelBench's form: module-level names
