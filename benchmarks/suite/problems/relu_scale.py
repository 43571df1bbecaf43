"""Level-1 kind: an elementwise activation, y = relu(x) * scale."""
import torch
import torch.nn as nn

batch_size, dim = 512, 4096


class Model(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return torch.relu(x) * self.scale


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return [2.5]
