# Returns a complex tensor whose real part is the right answer and whose imaginary part is garbage.
# expect: the reference's is float32
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        out = super().forward(x)
        return torch.complex(out, torch.full_like(out, 1e30))
