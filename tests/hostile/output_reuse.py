# Writes every call's answer into one buffer and returns it: a later call overwrites an earlier call's result.
# expect: same output memory
# where: gpu
class ModelNew(HonestModel):
    def forward(self, x):
        out = super().forward(x)
        buf = getattr(self, "buf", None)
        if buf is None or buf.shape != out.shape:
            buf = out.clone()
            self.buf = buf
        buf.copy_(out)
        return buf
