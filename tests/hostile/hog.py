# Starts, when imported, a process of its own that would run on while other contenders are timed (a second red team,
# session 9, burned the CPU that way only while its own worker was idle: the same honest code looked 1.42x faster
# than its twin). Here it sleeps (exec'd as `sleep 271.828`) so that a test can see whether it outlives its round.
# expect: pass
# (and no process of it alive while another contender is timed)
# where: gpu
import torch

if torch.os.fork() == 0:
    __import__("ctypes").CDLL(None).setsid()  # refused by the filter (-1, no exception): it stays in the group
    torch.os.execv("/bin/sleep", ["sleep", "271.828"])


class ModelNew(HonestModel):
    def forward(self, x):
        return super().forward(x)
