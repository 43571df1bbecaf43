"""Where does the 16-bit forward lose to cuBLAS? (issue 23, GPU.) On an idle GPU (session 26) the bf16 forward is
1.06x cuBLAS `addmm` at 1024x8192x8192, while dX = G W, the same tile config without the epilogue, is 1.00x; a
persistent forward (the epilogue overlapping the next tile's copies) did not move it. This times copies of the
deliverable with parts of the epilogue left out, each a source edit of model_new.py loaded as its own module
(host/ab_modules.load), against cuBLAS and the deliverable, interleaved. Problem 22's clamp bounds fix the
partials' max (model_new.fixed_max, shipped in session 27), so the shipped epilogue is _clamped_exp_pair's:

- "no-exp": the tile's row sums of clamp(y) - clamp_max instead of their exponentials (no MUFU work);
- "no-fold": no count and no fold (the last program of a row block never folds; out is not written);
- "acc-only": the partials are row sums of the accumulator (no bias, scale, clamp or exp);
- "acc-only-no-fold": both;
- "count-only": the count kept, the fold never taken (the count's fences against the fold's own work);
- "running-max": the epilogue before session 27 (each tile's own max, _clamped_lse_pair), right for any bounds, in
  both TMA kernels (the few-rows kernel took clamp_max as every tile's max in session 28);
  "release-acquire": the count a release, the last program's acquire a second atomic;
- "bias-late": the tile's bias loaded after the main loop, as before session 28 (both TMA kernels);
- "relaxed-count": the count without its fences (a relaxed atomic: the fold may read partials not yet written; its
  time only: what the count's release-acquire ordering costs).
At few rows every edit applies to the few-rows kernel, which shares the one-tile kernel's epilogue (_fold_tile).
"no-exp", "no-fold", "acc-only", "count-only" and "relaxed-count" compute wrong outputs by design (or may); only
their time is read. The others' rel-L2 against the shipped output is printed.

    PYTHONPATH=src python3 benchmarks/forward/epilogue_cost.py OUT.json [--shape M,K,N] [--dtype bfloat16]
        [--timing idle]
"""
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))  # benchmarks/: graph_timing
sys.path.insert(0, os.path.join(HERE, "..", "host"))  # ab_modules.load
from ab_modules import load  # noqa: E402
from graph_timing import dtype_of, option, problem, shape_of, timed_ms, write_json  # noqa: E402

import lsemish.model_new as mn  # noqa: E402
from lsemish.problems.problem22 import CONSTANTS  # noqa: E402

NO_EXP = ("    ex = tl.exp(yc - clamp_max)", "    ex = yc - clamp_max")
NO_FOLD = ('    if tl.atomic_add(count_ptr + pid_m, 1, sem="acq_rel", scope="gpu") == tiles - 1:', "    if pid_n < 0:")
ACC_ONLY = ("        row_max, row_sum, e = _clamped_exp_pair(y, offs_n[None, :] < N, clamp_min, clamp_max, 1)",
            "        row_max = tl.sum(acc, axis=1)\n        row_sum = row_max")
COUNT_ONLY = (NO_FOLD[0], NO_FOLD[0].replace("== tiles - 1:", "== -1:"))
RUNNING_MAX = [("FIXED_MAX=fixed, **few)", "FIXED_MAX=False, **few)"), ("FIXED_MAX=fixed,\n", "FIXED_MAX=False,\n")]
RELAXED = (NO_FOLD[0], NO_FOLD[0].replace('sem="acq_rel"', 'sem="relaxed"'))
RELEASE = (NO_FOLD[0], NO_FOLD[0].replace('sem="acq_rel"', 'sem="release"')
           + '\n        tl.atomic_add(count_ptr + pid_m, 0, sem="acquire", scope="gpu")')
BIAS = "    bias = _bias_tile(bias_ptr, pid_n, N, HAS_BIAS, BLOCK_N)\n"
BIAS_LATE = [(BIAS + "    acc = tl.zeros((BLOCK_M, BLOCK_N)", "    acc = tl.zeros((BLOCK_M, BLOCK_N)"),
             ("    _fold_tile(acc, pid_m, pid_n, p_desc, bias,", BIAS + "    _fold_tile(acc, pid_m, pid_n, p_desc, bias,"),
             (BIAS + "    acc = tl.zeros((BLOCK_N, BLOCK_M)", "    acc = tl.zeros((BLOCK_N, BLOCK_M)"),
             ("    _fold_tile(tl.trans(acc),", BIAS + "    _fold_tile(tl.trans(acc),")]
VARIANTS = {"no-exp": [NO_EXP], "no-fold": [NO_FOLD], "acc-only": [ACC_ONLY], "acc-only-no-fold": [ACC_ONLY, NO_FOLD],
            "count-only": [COUNT_ONLY], "running-max": RUNNING_MAX, "release-acquire": [RELEASE],
            "bias-late": BIAS_LATE, "relaxed-count": [RELAXED]}


def variant_file(folder, name, edits):
    source = open(mn.__file__).read()
    for old, new in edits:
        if source.count(old) != 1:
            sys.exit(f"{name}: the edit's text is not in model_new.py exactly once: {old!r}")
        source = source.replace(old, new)
    path = os.path.join(folder, f"epilogue_{name.replace('-', '_')}.py")
    open(path, "w").write(source)
    return f"{path}:{name.replace('-', '_')}"


def main(out_path, shape, dtype):
    M, K, N = shape
    torch.backends.cuda.matmul.allow_tf32 = True  # fp32: cuBLAS at the deliverable's default precision (tf32)
    x, w, b, _ = problem(M, K, N)
    x, w, b = (t.to(dtype) for t in (x, w, b))
    fns = {"cublas": lambda: torch.addmm(b, x, w.T), "shipped": lambda: mn.linear_lse_mish(x, w, b, *CONSTANTS)}
    with tempfile.TemporaryDirectory() as folder:
        for name, edits in VARIANTS.items():
            _, module = load(variant_file(folder, name, edits))
            fns[name] = (lambda m: lambda: m.linear_lse_mish(x, w, b, *CONSTANTS))(module)
            fns[name]()  # compiled while its file exists
        ms = timed_ms(fns)
    rows = []
    shipped = fns["shipped"]().double()
    for name, t in ms.items():
        dev = None if name == "cublas" else float((fns[name]().double() - shipped).norm() / shipped.norm())
        rows.append({"variant": name, "ms": t, "x_cublas": t / ms["cublas"], "x_shipped": t / ms["shipped"],
                     "rel_l2_vs_shipped": dev})
        print(f"{name:18s} {t:.4f} ms  {t / ms['cublas']:.3f}x cuBLAS  {t / ms['shipped']:.3f}x shipped  "
              f"rel-L2 vs shipped {dev}", flush=True)
    write_json(out_path, f"forward epilogue variants at {M}x{K}x{N} {dtype}; GPU time by the 'timing' field's method "
               "(graph_timing.timed_ms), interleaved, medians of 3", rows, command=" ".join(sys.argv))


if __name__ == "__main__":
    main(sys.argv[1], option("--shape", (1024, 8192, 8192), shape_of), option("--dtype", torch.bfloat16, dtype_of))
