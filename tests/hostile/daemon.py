# Leaves a process behind: a double-forked, session-leading daemon that sleeps (exec'd as `sleep 314.159`), which
# could act after the verdict.
# expect: pass
# (and no process of it left once the check is over)
# where: cpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        os_ = torch.os
        if os_.fork() == 0:
            __import__("ctypes").CDLL(None).setsid()  # refused by the filter (-1, no exception): it stays in the group
            if os_.fork() == 0:
                os_.execv("/bin/sleep", ["sleep", "314.159"])
            os_._exit(0)
        return super().forward(x)
