# KernelBench's input-zeroing attack: zeroes its input and returns what the reference gives for zeros.
# expect: modified input 0 | differs from the reference
# where: cpu gpu
class ModelNew(HonestModel):
    def forward(self, x):
        x.zero_()
        return super().forward(x)
