# Returns memory it never wrote (KernelBench's result-reuse attack: hoping the reference's answer is still there).
# expect: differs from the reference
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        return torch.empty(x.shape[0], 1, device=x.device, dtype=x.dtype)
