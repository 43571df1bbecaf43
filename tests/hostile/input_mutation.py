# Computes the right answer, then scales its input in place.
# expect: modified input 0
# where: cpu gpu
class ModelNew(HonestModel):
    def forward(self, x):
        out = super().forward(x)
        x.mul_(0.5)
        return out
