# Writes files next to every path on its command line, into the evaluating package, the working and home
# directories, /tmp, and the folders above the candidate file, then computes the right answer.
# expect: Permission denied
# (and no file outside its scratch folder: the test looks for HOSTILE_WAS_HERE everywhere it could reach)
# where: cpu gpu
import torch


class ModelNew(HonestModel):
    def forward(self, x):
        os_ = __import__("o" + "s")
        sys_ = __import__("s" + "ys")
        paths = [a for a in sys_.argv if os_.sep in a] + [os_.getcwd(), os_.path.expanduser("~"), "/tmp",
                                                          os_.path.dirname(torch.__file__)]
        here = os_.path.dirname(os_.path.abspath(__file__))
        paths += [here, os_.path.dirname(here), os_.path.dirname(os_.path.dirname(here))]
        names = [str(getattr(m, "__" + "name__", "")) for m in list(sys_.modules.values())]
        paths += [os_.path.dirname(sys_.modules[n].__file__) for n in names
                  if n.startswith("lsemish") and getattr(sys_.modules[n], "__file__", None)]
        for p in paths:
            folder = p if os_.path.isdir(p) else os_.path.dirname(p)
            target = os_.path.join(folder, "HOSTILE_WAS_HERE")
            if os_.access(folder, os_.W_OK):
                fd = os_.open(target, os_.O_WRONLY | os_.O_CREAT, 0o644) if not os_.path.exists(target) else -1
                if fd >= 0:
                    os_.close(fd)
        return super().forward(x)
