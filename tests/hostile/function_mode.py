# Enters a torch function mode when it is built and leaves it active: every torch call of the worker's own (the
# inputs it makes, its checks) then runs through the candidate's code, though it replaces nothing. This one only
# watches; queued_precompute.py shows what such a mode can do. From a red team (session 12).
# expect: mode left active
# where: cpu gpu
import torch

_overrides = __import__("torch.overrides", fromlist=["TorchFunctionMode"])


class _Watch(_overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


class ModelNew(HonestModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._watch = _Watch()
        self._watch.__enter__()
