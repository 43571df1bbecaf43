# Answers its first trial with a frame of its own naming the whole shared output memory (its descriptor is on the
# worker's command line) as 10,000 tensors: the trusted side allocated a copy of the memory for each (a red team's:
# 0.78 GiB for a 40 KB output, a host killed for memory with a larger one), the worker paying nothing.
# expect: malformed reply
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        argv = torch.sys.argv
        fd = int(argv[argv.index("--replies") + 1])
        size = torch.os.fstat(int(argv[argv.index("--outputs") + 1])).st_size
        spec = '{"dtype": "uint8", "shape": [%d], "offset": 0}' % size
        body = ('{"ok": true, "structure": "a tensor", "bulk": true, "tensors": [%s]}'
                % ", ".join([spec] * 10000)).encode()
        torch.os.write(fd, len(body).to_bytes(8, "big") + body)
        torch.os.pause()  # until killed: an exit would be the verdict's reason instead
