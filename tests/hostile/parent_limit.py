# Sets a 1-second CPU limit on the evaluating (parent) process, which would kill it mid-check, then answers right.
# expect: pass
# (the limit is refused: the check finishes and says so)
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = (torch.ctypes.c_long * 2)(1, 1)
        torch.ctypes.CDLL(None).prlimit(torch.os.getppid(), 0, limit, None)
