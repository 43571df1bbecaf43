# Writes its own reply frame (a deeply nested JSON header) on the worker's reply channel, found on its command line.
# expect: malformed reply | exited with status 0 before it delivered
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        argv = torch.sys.argv
        fd = int(argv[argv.index("--replies") + 1])
        body = b"[" * 200000 + b"]" * 200000
        torch.os.write(fd, len(body).to_bytes(8, "big") + body)
        torch.os._exit(0)
