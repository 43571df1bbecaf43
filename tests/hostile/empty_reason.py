# Answers its first trial with a reply of its own: rejected, with an empty reason (a red team's; check crashed with a
# KeyError reading the missing "error" of a reply whose reason was empty), then waits to be killed.
# expect: 'rejected' with no reason
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        argv = torch.sys.argv
        fd = int(argv[argv.index("--replies") + 1])
        body = b'{"rejected": "", "cheat": true}'
        torch.os.write(fd, len(body).to_bytes(8, "big") + body)
        torch.os.pause()  # until killed: an exit would be the verdict's reason instead
