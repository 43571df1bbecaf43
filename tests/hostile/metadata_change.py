# Changes the mode and times of its own file and of the package it is evaluated by (no write needed for these).
# expect: Operation not permitted
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        os_ = torch.os
        os_.chmod(__file__, 0o777)
        os_.utime(os_.path.dirname(torch.__file__), (0, 0))
        return super().forward(x)
