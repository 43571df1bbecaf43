# Exact wherever it is checked in full, a few tolerances off in timed calls (as a cheaper lower-precision kernel
# would be: a red team (session 9) used TF32 there, which a digest's band lets through, and made the calls it was
# asked to show exact after the fact). Small outputs come back with every timed call's commitment and are compared
# in full.
# expect: wrong answer
# where: gpu
def _timed():
    f = torch.sys._getframe()
    while f is not None:
        if f.f_code.co_name == "op_call":
            return True
        f = f.f_back
    return False


class ModelNew(HonestModel):
    def forward(self, x):
        out = super().forward(x)
        return out * (1 + 5e-4) if _timed() else out
