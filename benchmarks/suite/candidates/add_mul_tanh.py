import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def add_mul_tanh_kernel(a_ptr, b_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    a = tl.load(a_ptr + offs, mask=offs < n, other=0.0)
    b = tl.load(b_ptr + offs, mask=offs < n, other=0.0)
    s = a + b
    t = 1.0 - 2.0 / (tl.exp(2.0 * s) + 1.0)  # tanh, saturating to +-1 for large |s|
    tl.store(y_ptr + offs, t * a, mask=offs < n)


def add_mul_tanh(a, b):
    a, b = a.contiguous(), b.contiguous()
    y = torch.empty_like(a)
    n = a.numel()
    add_mul_tanh_kernel[(triton.cdiv(n, 1024),)](a, b, y, n, BLOCK=1024)
    return y


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return add_mul_tanh(a, b)
