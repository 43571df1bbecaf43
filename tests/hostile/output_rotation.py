# Writes each call's answer into one of three buffers in turn and returns it (a red team's, session 27): each answer
# is overwritten three calls later, and no call returns its previous call's memory (what output_reuse.py does).
# expect: same output memory
# where: cpu gpu
class ModelNew(HonestModel):
    def forward(self, x):
        out = super().forward(x)
        bufs = getattr(self, "bufs", None)
        if bufs is None or bufs[0].shape != out.shape:
            bufs = self.bufs = [out.clone() for _ in range(3)]
            self.turn = 0
        self.turn = (self.turn + 1) % 3
        bufs[self.turn].copy_(out)
        return bufs[self.turn]
