# Returns an output at once and fills it in from a thread after its call has returned.
# expect: left a thread running
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        threading = __import__("thread" + "ing")
        out = torch.empty(x.shape[0], 1, device=x.device, dtype=x.dtype)

        def later():
            getattr(__import__("ti" + "me"), "sleep")(0.2)
            out.copy_(HonestModel.forward(self, x))

        getattr(threading, "Thr" + "ead")(target=later).start()
        return out
