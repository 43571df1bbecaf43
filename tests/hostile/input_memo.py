# Remembers its answer for an input it has seen: same address, same first row.
# expect: stale answer | differs from the reference
# where: cpu gpu
class ModelNew(HonestModel):
    def forward(self, x):
        key = (x.data_ptr(), float(x[0].sum()))
        memo = getattr(self, "memo", None)
        if memo is None:
            memo = {}
            self.memo = memo
        if key not in memo:
            memo[key] = super().forward(x)
        return memo[key]
