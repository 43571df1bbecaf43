"""The fused forward against a float64 reference, through Triton's interpreter."""
import zlib

import pytest
import torch

from helpers import forward_paths, gold, make_problem, rel_l2, tf32
from lsemish import linear_lse_mish
from lsemish.evaluate.inputs import DISTRIBUTIONS
from lsemish.problems.problem22 import reference_forward

SHAPES = [(37, 53, 45), (1, 20, 17), (19, 7, 1), (33, 1, 40)]


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_fp32_mode_matches_float64(dist, shape):
    x, w, b = make_problem(*shape, dist=dist, seed=zlib.crc32(repr((dist, shape)).encode()) % 1000)
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision="fp32")
    assert out.shape == (shape[0], 1) and out.dtype == torch.float32
    # 3xtf32 drops the lo*lo product (~2^-22 of each term): over 800 random cases at these shapes the worst rel-L2
    # was 1.1e-6 (eager fp32 on the CPU: up to 1.8e-7); the tf32 mode is at 1e-4 where inputs do not saturate.
    assert rel_l2(out, gold(x, w, b)) < 3e-6


def test_tf32_mode_rounds_both_operands_to_nearest():
    # The tf32 mode must equal the float64 reference on operands rounded (not truncated) to tf32. K = 301: rows not
    # 16-byte aligned, so the register-operand kernel runs, which rounds ties away from zero.
    x, w, b = make_problem(37, 301, 45, dist="rand", seed=3)
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision="tf32")
    rounded = gold(tf32(x, "away"), tf32(w, "away"), b)
    truncated = gold(tf32(x, "trunc"), tf32(w, "trunc"), b)
    assert rel_l2(out, rounded) < 1e-7
    assert rel_l2(out, truncated) > 10 * rel_l2(out, rounded)


def test_bf16_mode_close():
    x, w, b = make_problem(37, 53, 45, seed=4)
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision="bf16")
    assert rel_l2(out, gold(x, w, b)) < 1e-2


def test_strided_inputs():
    x, w, b = make_problem(40, 30, 45, seed=5)
    xt = x.T.contiguous().T  # column-major x
    xs = torch.cat([x, x], dim=1)[:, ::2]  # sliced x with stride 2
    wt = w.T.contiguous().T
    for xx in (xt, xs[:, :30]):
        got = linear_lse_mish(xx, wt, b, 2.0, -10.0, 10.0, precision="fp32")
        torch.testing.assert_close(got.double(), gold(xx, w, b), rtol=2e-6, atol=2e-6)
    assert torch.equal(linear_lse_mish(xt, w, b, 2.0, -10.0, 10.0, "fp32"),
                       linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, "fp32"))


@pytest.mark.parametrize("scale,lo,hi", [(2.0, -10.0, 10.0), (1000.0, -0.5, 0.25), (2.0, -1e30, 1e30),
                                         (-3.0, -10.0, 10.0), (2, -10, 10), (2.0, 3.0, -1.0)])
def test_scale_and_clamp_variants(scale, lo, hi):
    # saturating everything, nothing, negative scale, int arguments, clamp_min > clamp_max
    x, w, b = make_problem(21, 33, 50, seed=6)
    out = linear_lse_mish(x, w, b, scale, lo, hi, precision="fp32")
    torch.testing.assert_close(out.double(), gold(x, w, b, scale, lo, hi), rtol=2e-6, atol=2e-6)


def test_no_bias():
    x, w, _ = make_problem(9, 17, 23, seed=7)
    torch.testing.assert_close(linear_lse_mish(x, w, None, 2.0, -10.0, 10.0, "fp32").double(),
                               gold(x, w, None), rtol=2e-6, atol=2e-6)


def test_nan_and_inf_rows_follow_the_reference():
    x, w, b = make_problem(6, 16, 20, seed=8)
    x[1, 3] = float("nan")
    x[2, 0] = float("inf")
    x[3, 5] = -float("inf")
    for p in ("tf32", "bf16"):
        out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, p)
        ref = gold(x, w, b)
        assert torch.equal(out.isnan().squeeze(), ref.isnan().squeeze()), p
        finite = ~ref.isnan().squeeze()
        assert torch.allclose(out[finite].double(), ref[finite], rtol=1e-2, atol=1e-2), p


def test_fp32_mode_nan_rows():
    x, w, b = make_problem(6, 16, 20, seed=8)
    x[1, 3] = float("nan")
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, "fp32")
    assert out[1].isnan().all() and not out[[0, 2, 3, 4, 5]].isnan().any()


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_inf_rows_follow_the_reference(precision):
    # An infinite x[m, k] makes every column +-inf (sign of W[:, k]) before the clamp, NaN where W[n, k] == 0 or
    # infinities of both signs meet. The fp32 mode's 3xtf32 split would give NaN there (inf - inf, 0 * inf); its
    # second pass over flagged rows must give the reference, and leave the other rows bitwise as they were.
    x, w, b = make_problem(40, 16, 20, seed=8)
    clean = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision)
    x[2, 0] = float("inf")
    x[5, 3] = -float("inf")
    x[33, 1] = float("inf")
    x[33, 2] = float("inf")
    x[36, 4] = float("inf")
    w = w.clone()
    w[7, 4] = 0.0  # row 36 meets 0 * inf in column 7: the reference gives NaN
    w[:, 1] = w[:, 2].abs() + 0.1
    w[:, 2] = -w[:, 1]  # row 33: +inf and -inf in every column: NaN
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision)
    ref = gold(x, w, b)
    assert torch.equal(out.isnan(), ref.isnan())
    # rows 2 and 5 saturate (every column at a clamp bound): the same value in every mode
    torch.testing.assert_close(out[[2, 5]].double(), ref[[2, 5]], rtol=1e-6, atol=1e-6)
    if precision == "fp32":
        finite = ~ref.isnan().squeeze()
        torch.testing.assert_close(out[finite].double(), ref[finite], rtol=1e-5, atol=1e-5)
    others = [i for i in range(40) if i not in (2, 5, 33, 36)]
    if precision == "fp32":
        w0 = make_problem(40, 16, 20, seed=8)[1]
        assert torch.equal(linear_lse_mish(x.clamp(-1e3, 1e3), w0, b, 2.0, -10.0, 10.0, precision)[others],
                           clean[others])


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_inf_in_weight_follows_the_reference(precision):
    # An infinite W[n, k] makes column n +-inf for every row with x[m, k] != 0 (the clamp then saturates it). The fp32
    # mode splits W into high and low parts in registers: inf - inf in the low part, or inf times a zero low part of
    # x, would make every row NaN where the reference is finite.
    x, w, b = make_problem(12, 16, 20, seed=10)
    x[4, 2] = 0.0  # row 4 meets 0 * inf in column 3: NaN in the reference
    w = w.clone()
    w[3, 2] = float("inf")
    w[5, 7] = -float("inf")
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision)
    ref = gold(x, w, b)
    assert torch.equal(out.isnan(), ref.isnan()) and ref.isnan().sum() == 1
    finite = ~ref.isnan().squeeze()
    tol = {"fp32": 1e-5, "tf32": 1e-2, "bf16": 5e-2}[precision]
    torch.testing.assert_close(out[finite].double(), ref[finite], rtol=tol, atol=tol)


def test_large_values_do_not_overflow_mish():
    x, w, b = make_problem(8, 16, 12, seed=9)
    out = linear_lse_mish(x, w, b * 0 + 200.0, 2.0, -1e4, 1e4, "fp32")
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), gold(x, w, b * 0 + 200.0, 2.0, -1e4, 1e4), rtol=1e-6, atol=0)


def test_deterministic_and_fully_written():
    x, w, b = make_problem(37, 53, 45, seed=10)
    for p in ("tf32", "fp32", "bf16"):
        out = torch.full((37, 1), float("nan"))
        linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, p, out=out)
        assert not out.isnan().any(), p
        assert torch.equal(out, linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, p)), p


def test_inputs_are_not_modified():
    x, w, b = make_problem(12, 30, 14, seed=11)
    copies = [t.clone() for t in (x, w, b)]
    for p in ("tf32", "fp32", "bf16"):
        linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, p)
    assert all(torch.equal(a, c) for a, c in zip((x, w, b), copies))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-6), (torch.bfloat16, 3e-2), (torch.float16, 5e-3)])
def test_native_dtypes(dtype, tol):
    x, w, b = make_problem(21, 40, 33, seed=12, dtype=dtype)
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0)
    assert out.dtype == dtype and out.shape == (21, 1)
    assert rel_l2(out, gold(x, w, b)) < tol


def test_empty_batch():
    x, w, b = make_problem(1, 8, 8)
    assert linear_lse_mish(x[:0], w, b, 2.0, -10.0, 10.0).shape == (0, 1)


def _tie_values(shape, gen):
    # fp32 values exactly halfway between two tf32 neighbours (low 13 bits = 0x1000), half with an even and half
    # with an odd last kept bit: round-to-nearest-even and ties-away differ on the even half.
    base = torch.rand(shape, generator=gen) + 0.5
    bits = base.view(torch.int32) & -8192
    return ((bits | 4096)).view(torch.float32)


def test_tf32_tma_kernel_rounds_ties_to_even(monkeypatch):
    # K % 4 == 0: the TMA-rounded kernel runs (a spy proves it); its operands are rounded as the TFLOAT32 tensor map
    # rounds them: to nearest, ties to even.
    calls = forward_paths(monkeypatch)
    gen = torch.Generator().manual_seed(11)
    x = _tie_values((37, 64), gen)
    w = _tie_values((45, 64), gen) / 64
    b = torch.rand(45, generator=gen)
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision="tf32")
    assert calls == ["tma"], "the TMA-rounded kernel did not run"

    assert rel_l2(out, gold(tf32(x, "round"), tf32(w, "round"), b)) < 1e-7
    assert rel_l2(out, gold(tf32(x, "away"), tf32(w, "away"), b)) > 1e-6


@pytest.mark.parametrize("shape", [(37, 62, 45), (37, 64, 45)])
def test_tf32_either_kernel_matches_rounded_operands(shape, monkeypatch):
    # K % 4 != 0 (rows not 16-byte aligned, no TMA): the register-operand kernel; K % 4 == 0: the TMA kernel.
    used = forward_paths(monkeypatch)
    x, w, b = make_problem(*shape, dist="lognormal", seed=12)
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision="tf32")
    assert used == ["tma" if shape[1] % 4 == 0 else "register"]  # the plan says whether TMA can describe x and W
    ties = "round" if used[0] == "tma" else "away"  # the TMA rounds ties to even; the register kernels away from zero
    assert rel_l2(out, gold(tf32(x, ties), tf32(w, ties), b)) < 1e-7


@pytest.mark.parametrize("M,K,N,which", [
    (2, 64, 70, "few"), (4, 64, 30, "few"), (3, 40, 20, "few"), (2, 16, 70, "few"), (8, 32, 140, "small"),
    (6, 64, 30, "small"), (9, 32, 40, "medium"), (16, 32, 64, "medium"), (40, 32, 70, "large"),
    (70, 32, 130, "large")])
def test_tf32_tma_kernel_configs(M, K, N, which, monkeypatch):
    # Every config of the one-launch kernels, several row blocks and W tiles: the last program of each row block folds
    # its partials. The interpreter's table (4 "SMs"): from 2 (one row: the FMA kernel) up to 4 rows the few-rows
    # kernel (W's tile first, 16 rows of x); otherwise "small" up to 8 rows, "large" once its 16 x 32 tiles number at
    # least 4, "medium" in between.
    import lsemish.model_new as mn
    plans = []
    real = mn._tma_plan
    monkeypatch.setattr(mn, "_tma_plan", lambda *a: plans.append(real(*a)) or plans[-1])
    x, w, b = make_problem(M, K, N, dist="randn", seed=M + K)
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision="tf32")
    table = mn._TF32_TMA_CONFIGS["interpreter"]
    few = plans[0].kernel is mn._tf32_lse_mish_few_rows_kernel
    assert len(plans) == 1 and few == (which == "few")
    assert plans[0].cfg == (dict(table["few"], BLOCK_M=16) if few else table[which])
    assert rel_l2(out, gold(tf32(x, "round"), tf32(w, "round"), b)) < 3e-7  # fp32 sums in another order: ~1 ulp


def test_few_rows_config_by_m():
    # On Hopper: x's block is the rows rounded up to a power of two (16 at least), and the stages fit FEW_SMEM.
    import lsemish.model_new as mn
    table = mn._TF32_TMA_CONFIGS["sm90"]
    for M, block in ((1, 16), (16, 16), (17, 32), (table["FEW_M"], 32)):
        cfg = mn._few_rows(table, M, False)
        assert cfg["BLOCK_M"] == block
        assert cfg["num_stages"] * (cfg["BLOCK_N"] + block) * cfg["BLOCK_K"] * 4 <= table["FEW_SMEM"]
    assert mn._few_rows(table, table["FEW_M"] + 1, False) is None and mn._few_rows(table, 1, True) is None
    # 16-bit models: their own tile ("few16"), BLOCK_K doubled so that a stage holds the same bytes
    for M, block in ((1, 16), (table["FEW_M"], 32)):
        cfg = mn._few_rows(table, M, False, 2)
        assert (cfg["BLOCK_M"], cfg["BLOCK_N"], cfg["BLOCK_K"]) == (block, table["few16"]["BLOCK_N"],
                                                                    2 * table["few16"]["BLOCK_K"])
        assert cfg["num_stages"] * (cfg["BLOCK_N"] + block) * cfg["BLOCK_K"] * 2 <= table["FEW_SMEM"]


def test_tma_row_block_counters_are_left_at_zero_and_kept(monkeypatch):
    # The one-launch kernel's counters and partials are kept between calls (no clearing launch, no allocation): the
    # program that folds a row block must leave its counter at zero, or the next call's row blocks are never folded
    # (out stays poisoned).
    import lsemish.model_new as mn
    x, w, b = make_problem(40, 32, 70, dist="randn", seed=5)  # 3 row blocks x 3 tiles ("large")
    first = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision="tf32")
    counters, workspace = mn._KEPT[(x.device, 0)]
    assert counters.shape == (mn._COUNTER_SLOTS,) and not counters.any()
    for _ in range(2):
        out = torch.full((40, 1), float("nan"))
        linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision="tf32", out=out)
        assert torch.equal(out, first)
    assert mn._KEPT[(x.device, 0)][0] is counters and not counters.any()
    # More row blocks, or more partials, than the kept buffers hold: fresh buffers of the call's own, the kept ones
    # untouched.
    for name, value in (("_COUNTER_SLOTS", 2), ("_WORKSPACE", 8)):
        with monkeypatch.context() as m:
            m.setattr(mn, name, value)
            kept = workspace.clone()
            out = torch.full((40, 1), float("nan"))
            linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision="tf32", out=out)
            assert torch.equal(out, first) and mn._KEPT[(x.device, 0)][0] is counters
            assert torch.equal(workspace, kept)


def test_tma_launch_plans_follow_the_shape():
    # A plan (config, grid, partial size) per shape: alternating shapes, and a new x of a known shape, each give
    # the reference's result.
    for M, K, N, seed in ((40, 32, 70, 1), (9, 32, 40, 2), (40, 32, 70, 3), (40, 48, 70, 4), (9, 32, 40, 5)):
        x, w, b = make_problem(M, K, N, dist="randn", seed=seed)
        out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision="tf32")
        assert rel_l2(out, gold(tf32(x, "round"), tf32(w, "round"), b)) < 1e-7, (M, K, N)


def test_launch_cache_key_separates_what_triton_specializes_on():
    from triton.tools.tensor_descriptor import TensorDescriptor

    import lsemish.model_new as mn
    key = mn._specialization
    t = torch.rand(16, 32)
    assert key(16) != key(17) and key(1) != key(2) and key(2**31) != key(16)
    assert key(t) != key(t.double()) and key(t) != key(t.view(-1)[1:])  # dtype, 16-byte alignment
    d = TensorDescriptor(t, [16, 32], [32, 1], [8, 16])
    assert key(d) != key(TensorDescriptor(t[:15], [15, 32], [32, 1], [8, 16]))
    assert key(d) != key(TensorDescriptor(t, [16, 32], [32, 1], [16, 16]))
    assert key(True) != key(False) and key(None) != key(0.5)


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
@pytest.mark.parametrize("precision,M,layout", [("tf32", 1, "contiguous"), ("fp32", 1, "contiguous"),
                                                ("fp32", 5, "contiguous"), ("fp32", 8, "transposed"),
                                                ("tf32", 1, "transposed"), ("fp32", 3, "no-bias")])
def test_few_rows_fma_kernel_is_exact_fp32(precision, M, layout, dist, monkeypatch):
    # Inference with at most MAX_M[mode] rows of fp32 x (one in the tf32 mode, eight in the fp32 mode) runs the FMA
    # kernel: exact fp32, so it meets the float64 reference far below the error that rounding the operands to tf32
    # gives (a tensor-core kernel would not). K and N have tails; column-major x and W; no bias.
    import lsemish.model_new as mn
    calls = []
    real = mn._fma_forward
    monkeypatch.setattr(mn, "_fma_forward", lambda *a: calls.append(a[2].shape) or real(*a))
    x, w, b = make_problem(M, 300, 37, dist=dist, seed=zlib.crc32(repr((dist, M, layout)).encode()) % 1000)
    if layout == "no-bias":
        b = None
    if layout == "transposed":
        x, w = x.T.contiguous().T, w.T.contiguous().T
    x0 = x.clone()
    out = torch.full((M, 1), float("nan"))
    linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision=precision, out=out)
    assert calls == [(M, 300)] and torch.equal(x, x0)
    err = rel_l2(out, gold(x, w, b))
    assert err < 1e-6, err
    assert rel_l2(gold(tf32(x, "round"), tf32(w, "round"), b), gold(x, w, b)) > 10 * err


@pytest.mark.parametrize("precision,M,training,fma", [("tf32", 1, False, True), ("tf32", 2, False, False),
                                                      ("fp32", 8, False, True), ("fp32", 9, False, False),
                                                      ("tf32", 1, True, False), ("fp32", 4, True, False),
                                                      ("bf16", 8, False, True), ("bf16", 9, False, False)])
def test_fma_kernel_switch(precision, M, training, fma, monkeypatch):
    # Both sides of the switch: the FMA kernel up to MAX_M rows per mode, in inference only (training needs P and
    # lse, which the tensor-core kernels write); the result right on either side (exact fp32 on the FMA side).
    import lsemish.model_new as mn
    table = mn._FMA_CONFIGS["interpreter"]["MAX_M"]
    assert table == mn._FMA_CONFIGS["sm90"]["MAX_M"] == mn._FMA_CONFIGS["sm89"]["MAX_M"]
    calls = []
    real = mn._fma_forward
    monkeypatch.setattr(mn, "_fma_forward", lambda *a: calls.append(1) or real(*a))
    x, w, b = make_problem(M, 64, 30, dist="laplace", seed=M)
    x.requires_grad_(training)
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision=precision)
    assert calls == ([1] if fma else [])
    assert rel_l2(out.detach(), gold(x.detach(), w, b)) < (1e-6 if fma else 1e-2 if precision == "bf16" else 1e-3)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("M,K,N,which", [(3, 64, 70, "few"), (6, 64, 30, "small"), (40, 32, 70, "large")])
@pytest.mark.parametrize("dist", ["randn", "lognormal"])
def test_16bit_models_take_the_tma_kernels_within_twice_eagers_error(dtype, M, K, N, which, dist, monkeypatch):
    # Inference of a bf16 or fp16 model: the TMA kernels, 16-bit operands copied as they are (BLOCK_K scaled so a
    # stage holds the fp32 tables' bytes), fp32 accumulation and epilogue, the output in the model's dtype; its error
    # against float64 within twice eager's in the same dtype.
    import lsemish.model_new as mn
    plans = []
    real_plan = mn._tma_plan
    monkeypatch.setattr(mn, "_PLANS", {})  # a plan is made for this call, not found from an earlier test's
    monkeypatch.setattr(mn, "_tma_plan", lambda *a: plans.append(real_plan(*a)) or plans[-1])
    ran = forward_paths(monkeypatch)
    x, w, b = make_problem(M, K, N, dist=dist, seed=M + K + N, dtype=dtype)
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0)
    assert ran == ["tma"] and out.dtype == dtype and out.shape == (M, 1)
    table = mn._TF32_TMA_CONFIGS["interpreter"]
    few = plans[0].kernel is mn._tf32_lse_mish_few_rows_kernel
    assert few == (which == "few")
    expected = mn._few_rows(table, M, False, 2) if few else dict(table[which], BLOCK_K=table[which]["BLOCK_K"] * 2)
    assert plans[0].cfg == expected
    exact = gold(x, w, b)
    eager = reference_forward(x, w, b, 2.0, -10.0, 10.0)
    assert rel_l2(out, exact) <= 2 * rel_l2(eager, exact) + 1e-6
    # tighter: fp32 products and sums, then one rounding to the model's dtype (as a GPU rounds: to nearest)
    assert rel_l2(out, exact) <= 1.5 * rel_l2(exact.to(dtype), exact) + 1e-6


def test_16bit_training_takes_the_tma_kernel_and_its_gradients_match(monkeypatch):
    # Training a 16-bit model: the TMA forward stores lse and P (fp32) for the backward; the gradients equal those
    # of the register-operand forward's P (the same fp32 products in another order: within a few 16-bit ulps).
    import lsemish.model_new as mn
    ran = forward_paths(monkeypatch)
    grads = []
    for tma in (True, False):
        if not tma:
            monkeypatch.setattr(mn, "_tma_forward_applies", lambda *a: False)
        x, w, b = make_problem(40, 64, 32, seed=3, dtype=torch.bfloat16)
        for t in (x, w, b):
            t.requires_grad_(True)
        out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0)
        out.sum().backward()
        grads.append([out.detach()] + [t.grad for t in (x, w, b)])
    assert ran == ["tma", "register"]
    for got, want in zip(*grads):
        assert got.dtype == torch.bfloat16 and rel_l2(got, want.double()) < 1e-2


@pytest.mark.parametrize("M", [3, 40])
def test_lse_alone_takes_the_tma_kernel_and_equals_trainings(M, monkeypatch):
    # lsemish.distributed's inference asks for lse without P: the one-tile-per-program TMA kernel stores it (the
    # few-rows kernel cannot), and it equals the lse the training forward stores, bit for bit.
    import lsemish.model_new as mn
    ran = forward_paths(monkeypatch)
    x, w, b = make_problem(M, 64, 40, seed=M)
    out, lse = torch.empty(M, 1), torch.full((M,), float("nan"))
    mn.forward_into(x, w, b, (2.0, -10.0, 10.0), 0, out, lse)
    out2, lse2, p = torch.empty(M, 1), torch.empty(M), torch.empty(M, 40)
    mn.forward_into(x, w, b, (2.0, -10.0, 10.0), 0, out2, lse2, p)
    assert ran == ["tma", "tma"]
    assert torch.equal(lse, lse2) and torch.equal(out, out2)


def test_forward_path_names_the_kernel_the_dispatch_picks(monkeypatch):
    # model_new.forward_path says which forward kernel runs for these tensors (and launches nothing); the dispatch of
    # a real call agrees: the FMA kernel for one row of fp32 x in inference, the TMA kernels where TMA can describe x
    # and W (K % 4 == 0 for fp32), in training too where it can describe P (N % 4 == 0), and the register-operand
    # kernel otherwise (and for float64).
    import lsemish.model_new as mn
    cases = [((1, 64, 30), torch.float32, False, "fma"), ((9, 64, 30), torch.float32, False, "tma"),
             ((9, 62, 30), torch.float32, False, "register"), ((9, 64, 32), torch.float32, True, "tma"),
             ((9, 64, 30), torch.float32, True, "register"),
             ((9, 64, 30), torch.float64, False, "register"), ((3, 64, 30), torch.bfloat16, False, "tma")]
    taken = forward_paths(monkeypatch)
    for (M, K, N), dtype, training, expected in cases:
        x, w, b = make_problem(M, K, N, seed=M + K, dtype=dtype)
        assert mn.forward_path(x, w, b, "tf32", training) == expected, (M, K, N, dtype, training)
        x.requires_grad_(training)
        linear_lse_mish(x, w, b, 2.0, -10.0, 10.0)
        assert taken[-1] == expected


def test_a_launch_must_name_every_leading_parameter():
    # _launch takes the kernel's runtime arguments by name: a missing or misspelt one is an error naming the
    # parameter, not a shifted argument list
    import lsemish.model_new as mn
    kernel = mn._lse_mish_combine_kernel
    right = dict(part_max_ptr=1, part_sum_ptr=2, out_ptr=3, lse_ptr=4, M=5, num_tiles=6, stride_out=7)
    assert mn._in_order(kernel, dict(reversed(list(right.items())))) == (1, 2, 3, 4, 5, 6, 7)
    missing = {k: v for k, v in right.items() if k != "M"}
    misspelt = {("Mx" if k == "M" else k): v for k, v in right.items()}
    for wrong in (missing, misspelt):
        with pytest.raises(KeyError, match="'M'"):
            mn._in_order(kernel, wrong)


def test_a_launch_whose_compile_fails_leaves_no_plan(monkeypatch):
    # A plan is kept only once its kernel is resolved: a compile that fails (out of resources, say) fails again the
    # same way on the next call, instead of leaving a half-made plan that the next call trips over (a reviewer,
    # session 18: TypeError from an empty plan, the real error lost)
    import lsemish.model_new as mn

    def failing(*args, **kwargs):
        raise RuntimeError("compile failed")
    monkeypatch.setattr(mn, "_interpreting", lambda: False)  # the GPU path, as far as resolving goes
    monkeypatch.setattr(mn, "_resolve", failing)
    monkeypatch.setattr(mn, "_PLANS", {})
    like = torch.empty(4)
    args = dict(part_max_ptr=like, part_sum_ptr=like, out_ptr=like, lse_ptr=like, M=4, num_tiles=1, stride_out=1)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="compile failed"):
            mn._launch(mn._lse_mish_combine_kernel, like, (1,), args, dict(SAVE_LSE=False, BLOCK=256))
    assert mn._PLANS == {}


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
@pytest.mark.parametrize("M,kernel", [(40, "_tf32_lse_mish_kernel"), (3, "_tf32_lse_mish_few_rows_kernel")])
def test_fixed_max_epilogue_follows_the_clamp_bounds(dist, M, kernel, monkeypatch):
    # Where the clamp bounds are finite and at most E_SPAN apart (model_new.fixed_max), both TMA forwards (one tile
    # per program; few rows) take clamp_max as every tile's max; elsewhere each tile's own max. Both against float64
    # on the same tensors, bounds
    # alternating so that a plan made for one kind of bounds would be reused for the other if the plan's key left
    # them out (infinite bounds in a fixed-max plan: exp(y - inf) = 0, lse = -inf), at spans just inside and just
    # outside E_SPAN (in fp32, as the kernel takes the bounds), every value saturated at either bound, and
    # clamp_min > clamp_max.
    import lsemish.model_new as mn
    taken = forward_paths(monkeypatch)
    fixed = []
    real = mn._tma_plan
    monkeypatch.setattr(mn, "_PLANS", {})  # plans made by earlier tests
    monkeypatch.setattr(mn, "_tma_plan", lambda *a: fixed.append(real(*a)) or fixed[-1])
    x, w, b = make_problem(M, 32, 70, dist=dist, seed=zlib.crc32(dist.encode()) % 1000)
    cases = [(2.0, -10.0, 10.0, True), (2.0, -float("inf"), float("inf"), False), (2.0, -54.0, 10.0, True),
             (2.0, -54.5, 10.0, False), (-1e4, -54.0, 10.0, True), (1e4, -54.0, 10.0, True),
             (2.0, -10.0, float("inf"), False), (2.0, 3.0, -1.0, True), (2.0, -10.0, 10.0, True),
             # 64 apart as Python floats, 128 apart in fp32 (2^30 and 2^30 + 128), as the kernel takes them
             (2.0, 2.0**30 + 1, 2.0**30 + 65, False), (2.0, 2.0**27 - 64, 2.0**27, True),
             (-2.0, -2.0**27, -2.0**27 + 64, True), (2.0, 2.0**27, 2.0**27 + 64, False)]
    for scale, lo, hi, is_fixed in cases:
        assert mn.fixed_max(lo, hi) == is_fixed
        out = torch.full((M, 1), float("nan"))
        linear_lse_mish(x, w, b, scale, lo, hi, precision="tf32", out=out)
        want = gold(tf32(x, "round"), tf32(w, "round"), b, scale, lo, hi)
        torch.testing.assert_close(out.double(), want, rtol=1e-6, atol=1e-6, msg=lambda m: f"{(scale, lo, hi)}: {m}")
    assert taken == ["tma"] * len(cases)
    # finite as Python floats, infinite in fp32; NaN bounds
    assert not any(mn.fixed_max(lo, hi) for lo, hi in ((1e39, 1e39), (-1e39, 0.0), (float("nan"), 1.0),
                                                       (0.0, float("nan"))))
    # plain arithmetic: torch.compile's tracing asks too, on fake tensors
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        assert mn.fixed_max(-10.0, 10.0) and mn.p_dtype(torch.empty(2, 2, dtype=torch.bfloat16), -10.0, 10.0) == \
            torch.bfloat16
    # one plan for each kind of bounds, made once and then kept, whose kernel takes the epilogue they allow
    assert [plan.meta["FIXED_MAX"] for plan in fixed] == [True, False]
    assert all(plan.kernel is getattr(mn, kernel) for plan in fixed)
