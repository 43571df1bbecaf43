# Answers its first trial with a reply of its own: fatal, with no "error" (a red team's; the sandbox crashed with a
# KeyError), then waits to be killed.
# expect: 'error' with no reason
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        argv = torch.sys.argv
        fd = int(argv[argv.index("--replies") + 1])
        body = b'{"ok": true, "fatal": true}'
        torch.os.write(fd, len(body).to_bytes(8, "big") + body)
        torch.os.pause()  # until killed: an exit would be the verdict's reason instead
