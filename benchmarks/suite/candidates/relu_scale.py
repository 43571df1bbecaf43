import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def relu_scale_kernel(x_ptr, y_ptr, n, scale, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    tl.store(y_ptr + offs, tl.maximum(x, 0.0) * scale, mask=offs < n)


def relu_scale(x, scale):
    x = x.contiguous()
    y = torch.empty_like(x)
    n = x.numel()
    relu_scale_kernel[(triton.cdiv(n, 1024),)](x, y, n, scale, BLOCK=1024)
    return y


class ModelNew(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return relu_scale(x, self.scale)
