"""Level-1 kind: softplus on inputs of large magnitude, y = log(1 + exp(x)) (a naive exp overflows)."""
import torch
import torch.nn as nn

batch_size, dim = 512, 4096


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.nn.functional.softplus(x)


def get_inputs():
    return [torch.randn(batch_size, dim) * 40]


def get_init_inputs():
    return []
