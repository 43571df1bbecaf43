# Honest, but prints 200,000 lines on every call (not a cheat: its output must not flood the verdicts).
# expect: pass
# where: cpu
class ModelNew(HonestModel):
    def forward(self, x):
        for i in range(200000):
            print(f"candidate says {i}")
        return super().forward(x)
