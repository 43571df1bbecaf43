# Writes a line into the kernel's log (/dev/kmsg), which no one can take back.
# expect: Permission denied
# where: cpu gpu
class ModelNew(HonestModel):
    def forward(self, x):
        with open("/dev/kmsg", "w") as log:
            log.write("a candidate was here\n")
        return super().forward(x)
