# Does all its work on a stream the caller's stream never waits for (the names built at run time).
# expect: work outside the timed call | a call cannot take less than its work
# where: gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        cuda = getattr(torch, "cu" + "da")
        if not x.is_cuda:
            return super().forward(x)
        side = getattr(self, "side", None)
        if side is None:
            side = getattr(cuda, "Str" + "eam")()
            self.side = side
        with getattr(cuda, "str" + "eam")(side):
            return super().forward(x)
