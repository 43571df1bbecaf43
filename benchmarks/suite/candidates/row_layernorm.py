import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def row_layernorm_kernel(x_ptr, y_ptr, N, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * N + offs, mask=offs < N, other=0.0)
    mean = tl.sum(x, axis=0) / N
    d = tl.where(offs < N, x - mean, 0.0)
    var = tl.sum(d * d, axis=0) / N
    tl.store(y_ptr + row * N + offs, d / tl.sqrt(var + eps), mask=offs < N)


def row_layernorm(x, eps):
    M, N = x.shape
    y = torch.empty_like(x)
    row_layernorm_kernel[(M,)](x.contiguous(), y, N, eps, BLOCK=triton.next_power_of_2(N))
    return y


class ModelNew(nn.Module):
    def __init__(self, eps):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        return row_layernorm(x, self.eps)
