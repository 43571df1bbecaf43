"""How often does a wrong output pass a commitment's digest (evaluate/commit.py), one sum per output against one sum
per stretch? CPU; writes OUT.json. Outputs of 300x7 values from N(0, 1); four wrong answers (zeros, rolled by a
row, scaled by 1.5, another draw) and one right one (within allclose) per key, at two tolerances."""
import json
import random
import sys
import time

import torch

from lsemish.evaluate import commit


def rates(segments, tol, seeds, keys):
    saved = commit.SEGMENTS
    commit.SEGMENTS = segments
    try:
        wrong = right_rejected = checks = 0
        for seed in range(seeds):
            gen = torch.Generator().manual_seed(seed)
            rng = random.Random(seed)
            ref = torch.randn(300, 7, generator=gen)
            for _ in range(keys):
                key = commit.new_key(rng)
                near = ref + (torch.rand(ref.shape, generator=gen) * 2 - 1) * (tol + tol * ref.abs()) * 0.99
                right_rejected += commit.check(commit.digest([near], key), [ref], key, [tol]) is not None
                for bad in (torch.zeros_like(ref), ref.roll(1, 0), ref * 1.5, torch.randn(ref.shape, generator=gen)):
                    checks += 1
                    wrong += commit.check(commit.digest([bad], key), [ref], key, [tol]) is None
        return {"segments": segments, "tol": tol, "wrong_checks": checks, "wrong_passed": wrong,
                "right_checks": seeds * keys, "right_rejected": right_rejected}
    finally:
        commit.SEGMENTS = saved


if __name__ == "__main__":
    out = sys.argv[1]
    rows = [rates(s, tol, 300, 20) for tol in (1e-4, 1e-2) for s in (1, commit.SEGMENTS)]
    for r in rows:
        print(r)
    json.dump({"date": time.strftime("%Y-%m-%d"), "device": "cpu", "torch": torch.__version__,
               "command": "PYTHONPATH=src python benchmarks/evaluator/digest_false_accept.py OUT.json", "rows": rows},
              open(out, "w"), indent=1)
