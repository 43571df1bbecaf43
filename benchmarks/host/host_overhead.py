"""Host (CPU) time per call at a tiny shape, where the GPU work is negligible: what the Python wrapper, the
torch.library dispatch, autograd and the Triton launches cost, next to eager PyTorch. Then a cProfile of the
lsemish forward + backward.

    PYTHONPATH=src python benchmarks/host/host_overhead.py
"""
import cProfile
import io
import pstats

import torch

from lsemish import ModelNew
from lsemish.bench import host_ms
from lsemish.problems.problem22 import Model, init_inputs


def per_call_us(fn, n=300):
    for _ in range(20):
        fn()
    return host_ms(fn, n) * 1e3


def main():
    init = init_inputs(64, 64)
    torch.manual_seed(0)
    ref = Model(*init).cuda()
    mine = ModelNew(*init).cuda()
    mine.load_state_dict(ref.state_dict())
    x = torch.rand(16, 64, device="cuda", requires_grad=True)
    g = torch.randn(16, 1, device="cuda")

    def fwd(m):
        def run():
            with torch.no_grad():
                m(x)
        return run

    def fwd_bwd(m):
        def run():
            m.zero_grad(set_to_none=True)
            x.grad = None
            m(x).backward(g)
        return run

    rows = [("lsemish forward (no_grad)", per_call_us(fwd(mine))), ("eager forward (no_grad)", per_call_us(fwd(ref))),
            ("lsemish forward + backward", per_call_us(fwd_bwd(mine))),
            ("eager forward + backward", per_call_us(fwd_bwd(ref)))]
    for name, us in rows:
        print(f"{name:32s} {us:8.1f} us per call (host-bound: 16x64x64)")
    prof = cProfile.Profile()
    step = fwd_bwd(mine)
    prof.enable()
    for _ in range(100):
        step()
    torch.cuda.synchronize()
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
    print(s.getvalue()[-6000:])


if __name__ == "__main__":
    main()
