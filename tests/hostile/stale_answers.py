# Runs its honest kernel for its first calls, then returns its last answer.
# expect: stale answer | differs from the reference
# where: cpu gpu
class ModelNew(HonestModel):
    def forward(self, x):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls > 2 and getattr(self, "last", None) is not None:
            return self.last
        self.last = super().forward(x)
        return self.last
