"""Control (session 22): softplus from torch ops only, launch-bound like the Triton candidate (about ten small
launches per call, about as long on the host as one Triton launch)."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        a = x.abs().neg().exp().add(1.0).log()
        y = x.clamp(min=0.0).add(a)
        return torch.where(x > 20.0, x, y).contiguous().clone()
