# Installs a profile hook (sys.setprofile, reached through torch.sys): a way to run code inside the worker's own
# requests without replacing any function. The worker reports the hook.
# expect: sys.setprofile
# where: cpu gpu
def _noop(frame, event, arg):
    return None


class ModelNew(HonestModel):
    def forward(self, x):
        torch.sys.setprofile(_noop)
        return super().forward(x)
