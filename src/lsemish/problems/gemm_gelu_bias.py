"""A GEMM followed by an activation and a bias: y = gelu(x @ W.T) + bias."""
import torch
import torch.nn as nn

batch_size, in_features, out_features = 64, 128, 96


class Model(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.randn(out_features) * 0.02)

    def forward(self, x):
        return torch.nn.functional.gelu(self.linear(x)) + self.bias


def get_inputs():
    return [torch.randn(batch_size, in_features)]


def get_init_inputs():
    return [in_features, out_features]
