"""Level-2 kind: a GEMM with a bias, a sigmoid and a row sum, y = sigmoid(x @ W.T + b).sum(dim=1, keepdim=True)."""
import torch
import torch.nn as nn

batch_size, in_features, out_features = 256, 512, 1024


class Model(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return torch.sigmoid(self.linear(x)).sum(dim=1, keepdim=True)


def get_inputs():
    return [torch.randn(batch_size, in_features)]


def get_init_inputs():
    return [in_features, out_features]
