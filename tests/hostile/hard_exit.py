# Ends its process at once with status 0 (no exception to catch), on its first call.
# expect: exited with status 0 before it delivered its result
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        getattr(__import__("o" + "s"), "_exit")(0)
        return torch.zeros(1)
