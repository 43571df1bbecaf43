# Lowers the precision of its matrix product to bfloat16 (fast, and wrong at KernelBench's fp32 tolerance).
# expect: differs from the reference
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        w = self.matmul.weight
        y = (x.bfloat16() @ w.bfloat16().t()).float() + self.matmul.bias
        y = torch.clamp(2 * y * self.scale_factor, self.clamp_min, self.clamp_max)
        y = torch.logsumexp(y, dim=1, keepdim=True)
        return y * torch.tanh(torch.log1p(torch.exp(y)))
