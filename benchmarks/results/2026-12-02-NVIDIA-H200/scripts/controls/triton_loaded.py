"""Control (session 22): softplus computed by torch, after a Triton kernel was compiled and launched at import."""
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def _touch(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) + 1.0, mask=offs < n)


_scratch = torch.zeros(4096, device="cuda")
_touch[(4,)](_scratch, 4096, BLOCK=1024)
torch.cuda.synchronize()


class ModelNew(nn.Module):
    def forward(self, x):
        return torch.nn.functional.softplus(x)
