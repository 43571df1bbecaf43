"""benchmarks/forward/persistent_tma.py (issue 23's prototype, outside the deliverable) through the interpreter: each
program walks several tiles, and the output is the deliverable's one-tile TMA kernel's, bit for bit, in the same
config (same products, same partials folded in tile order), for fp32 (tf32-rounded) and 16-bit operands."""
import json
import os
import subprocess
import sys

import pytest
import torch

from helpers import forward_paths, gold, make_problem, rel_l2
from lsemish import linear_lse_mish
from lsemish import model_new as mn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks", "forward"))
from persistent_tma import persistent_forward  # noqa: E402

CONFIG = (16, 32, 16, 4, 1)  # BLOCK_M, BLOCK_N, BLOCK_K (fp32 units), warps, stages: interpreter-sized


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("programs,fold_here", [(1, True), (3, True), (3, False)])
def test_the_persistent_kernel_gives_the_one_tile_kernels_output(monkeypatch, dtype, programs, fold_here):
    x, w, b = (t.to(dtype) for t in make_problem(40, 64, 100, dist="randn", seed=7))  # 3 row blocks x 4 tiles
    bm, bn, bk, warps, stages = CONFIG
    large = mn._tma_config_for(dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=2, num_warps=warps,
                                    num_stages=stages), 4)
    monkeypatch.setitem(mn._TF32_TMA_CONFIGS, "interpreter",
                        dict(mn._TF32_TMA_CONFIGS["interpreter"], SMALL_M=0, FEW_M=0, large=large, medium=large))
    monkeypatch.setattr(mn, "_PLANS", {})
    paths = forward_paths(monkeypatch)
    one_tile = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0)
    assert paths == ["tma"], paths  # the deliverable's one-tile TMA kernel, not another path
    out = persistent_forward(x, w, b, (2.0, -10.0, 10.0), CONFIG, programs=programs, fold_here=fold_here)
    if fold_here or dtype == torch.float32:
        assert torch.equal(out, one_tile)
    else:  # the combine kernel's bf16 store truncates in the interpreter (a GPU rounds, as _fold_tile emulates)
        assert torch.allclose(out.float(), one_tile.float(), rtol=2**-7, atol=0) and not torch.equal(out, one_tile)
    assert rel_l2(out.float(), gold(x.float(), w.float(), b.float())) < (1e-2 if dtype == torch.bfloat16 else 1e-3)


def test_without_the_fold_inside_the_flattened_loop_is_pipelined_for_sm_90():
    # Compiled without a GPU (Triton 3.9): the flattened kernel that only writes partials keeps several stages of
    # shared memory (its next tile's copies in flight during the epilogue), with no spills, and every variant
    # compiles. (The H200's Triton 3.6 cannot compile the flattened loop for sm_90: perf-notes, session 25.)
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "forward", "persistent_tma.py")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, script, "--compile"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 2 * 5 and all(row["spills"] == 0 for row in rows)  # bf16 and fp32, five variants each
    for row in rows:
        if row["flatten"] and not row["fold_here"]:
            assert row["shared"] >= 2 * row["stage_bytes"], row
