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


def get_init_inputs():
    return [input_size, hidden_size, scale_factor, clamp_min, clamp_max]  # KernelBench's form: module-level names
