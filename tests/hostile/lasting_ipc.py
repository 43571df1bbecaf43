# Leaves a 64 MiB System V shared-memory segment behind (it outlives every process), then answers right.
# expect: pass
# (no segment is created: /proc/sysvipc/shm is unchanged)
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        torch.ctypes.CDLL(None).shmget(0x15E3, 64 << 20, 0o1666)
