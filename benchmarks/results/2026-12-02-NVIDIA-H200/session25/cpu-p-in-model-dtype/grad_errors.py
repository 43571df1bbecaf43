import sys, torch
sys.path.insert(0, "tests")
from helpers import make_problem, our_grads, gold_grads, rel_l2
from lsemish import linear_lse_mish
from lsemish.problems.problem22 import reference_forward
for dtype in (torch.bfloat16, torch.float16):
  for dist in ("rand", "randn"):
    for M, K, N in [(40, 64, 48), (5, 32, 80), (33, 48, 16), (64, 128, 256)]:
        x, w, b = make_problem(M, K, N, seed=M + N, dtype=dtype, dist=dist)
        g = torch.randn(M, 1, generator=torch.Generator().manual_seed(5)).to(dtype)
        _, *grads = our_grads(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -10.0, 10.0), x, w, b, g)
        _, *eager = our_grads(lambda xx, ww, bb: reference_forward(xx, ww, bb, 2.0, -10.0, 10.0), x, w, b, g)
        ref = gold_grads(x, w, b, g)
        print(str(dtype)[6:], dist, (M, K, N), " ".join(f"{rel_l2(a, r):.2e}/{rel_l2(e, r):.2e}" for a, e, r in zip(grads, eager, ref)))
