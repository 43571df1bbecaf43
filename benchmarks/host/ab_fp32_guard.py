"""Kernel time (CUDA-graph replays, interleaved, medians) of the fp32 mode's forward at the headline and at
16x8192x8192 in two copies of the deliverable, with rel-L2 against float64 (GPU).

    PYTHONPATH=src python3 benchmarks/host/ab_fp32_guard.py OUT.json FILE_A:LABEL FILE_B:LABEL
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # benchmarks/: graph_timing
from ab_modules import load  # noqa: E402
from graph_timing import interleaved_ms, problem, rel_l2, write_json  # noqa: E402

from lsemish.problems.problem22 import CONSTANTS  # noqa: E402


def main(out_path, specs):
    modules = [load(s) for s in specs]
    rows = []
    for M, K, N in ((1024, 8192, 8192), (16, 8192, 8192)):
        x, w, b, gold = problem(M, K, N)
        fns = {label: (lambda m: lambda: m.linear_lse_mish(x, w, b, *CONSTANTS, "fp32"))(m)
               for label, m in modules}
        ms = interleaved_ms(fns)
        for label, fn in fns.items():
            rows.append({"M": M, "K": K, "N": N, "module": label, "ms": ms[label], "rel_l2": rel_l2(fn(), gold),
                         "x_first": ms[label] / ms[modules[0][0]]})
            print(rows[-1], flush=True)
    write_json(out_path, "fp32 mode forward, CUDA-graph kernel time, medians of 3 interleaved rounds", rows,
               command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
