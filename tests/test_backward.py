"""Gradients of x, W and b against a float64 reference, through Triton's interpreter."""
import zlib

import pytest
import torch

from helpers import forward_paths, gold_grads, make_problem, our_grads, rel_l2, tf32
from lsemish import linear_lse_mish
from lsemish.evaluate.inputs import DISTRIBUTIONS

SHAPES = [(37, 53, 45), (1, 20, 17), (19, 7, 1), (33, 1, 40)]
CLAMPS = [(2.0, -10.0, 10.0), (1000.0, -0.5, 0.25), (-3.0, -1.0, 1.5), (2.0, 3.0, -1.0), (2, -10, 10)]


def _seed(*key):
    return zlib.crc32(repr(key).encode()) % 1000


def _eager_fp32_errors(x, w, b, g, scale, lo, hi, gold):
    from lsemish.problems.problem22 import reference_forward
    _, *grads = our_grads(lambda xx, ww, bb: reference_forward(xx, ww, bb, scale, lo, hi), x, w, b, g)
    return [rel_l2(a, r) if r.norm() > 0 else 0.0 for a, r in zip(grads, gold)]


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_fp32_mode_gradients_match_float64(dist, shape):
    x, w, b = make_problem(*shape, dist=dist, seed=_seed(dist, shape))
    g = torch.randn(shape[0], 1, generator=torch.Generator().manual_seed(_seed(shape)))
    out, dx, dw, db = our_grads(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -10.0, 10.0, "fp32"), x, w, b, g)
    gold = gold_grads(x, w, b, g)
    eager = _eager_fp32_errors(x, w, b, g, 2.0, -10.0, 10.0, gold)
    for name, got, ref, e in zip(("dx", "dw", "db"), (dx, dw, db), gold, eager):
        assert got.shape == ref.shape and got.dtype == torch.float32, name
        # 3xtf32 drops the lo*lo products (~2^-22 of each term), as in the forward: no worse than 4x eager fp32 on
        # the CPU, with the forward test's floor of 3e-6 (eager is 1e-8..4e-7 here)
        assert rel_l2(got, ref) <= max(4 * e, 3e-6), (name, rel_l2(got, ref), e)


@pytest.mark.parametrize("scale,lo,hi", CLAMPS)
def test_clamp_saturation_negative_scale_and_int_arguments(scale, lo, hi):
    # the clamp passes the gradient only where lo <= pre-clamp value <= hi; clamp_min > clamp_max passes none
    x, w, b = make_problem(21, 33, 50, seed=6)
    g = torch.randn(21, 1, generator=torch.Generator().manual_seed(1))
    _, dx, dw, db = our_grads(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, scale, lo, hi, "fp32"), x, w, b, g)
    gx, gw, gb = gold_grads(x, w, b, g, scale, lo, hi)
    for got, ref in ((dx, gx), (dw, gw), (db, gb)):
        torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=1e-6 * max(1.0, float(ref.abs().max())))
    if lo > hi:
        assert not dx.any() and not dw.any() and not db.any()


def test_tf32_mode_gradients():
    # Forward and backward products round their operands to tf32: the reference is float64 on rounded x and W.
    x, w, b = make_problem(37, 301, 45, dist="rand", seed=3)
    g = torch.randn(37, 1, generator=torch.Generator().manual_seed(2))
    _, *grads = our_grads(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -10.0, 10.0, "tf32"), x, w, b, g)
    gold = gold_grads(tf32(x, "away"), tf32(w, "away"), b, g)
    for got, ref in zip(grads, gold):
        assert rel_l2(got, ref) < 1e-3  # G and the other operand rounded to tf32 (2^-11) in the backward products


def test_bf16_mode_gradients():
    x, w, b = make_problem(37, 53, 45, seed=4)
    g = torch.randn(37, 1, generator=torch.Generator().manual_seed(3))
    _, *grads = our_grads(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -10.0, 10.0, "bf16"), x, w, b, g)
    for got, ref in zip(grads, gold_grads(x, w, b, g)):
        assert rel_l2(got, ref) < 3e-2


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_native_dtype_gradients(dtype):
    x, w, b = make_problem(17, 40, 24, seed=9, dtype=dtype)
    g = torch.randn(17, 1, generator=torch.Generator().manual_seed(4)).to(dtype)
    out, *grads = our_grads(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -10.0, 10.0), x, w, b, g)
    tol = 1e-12 if dtype == torch.float64 else 3e-2  # float64 models compute in float64 throughout
    for got, ref, t in zip(grads, gold_grads(x, w, b, g), (x, w, b)):
        assert got.dtype == dtype and got.shape == t.shape
        assert rel_l2(got, ref) < tol


def test_only_the_gradients_asked_for():
    x, w, b = make_problem(9, 17, 23, seed=7)
    ws = w.clone().requires_grad_()
    out = linear_lse_mish(x, ws, None, 2.0, -10.0, 10.0, "fp32")  # x frozen, no bias
    out.sum().backward()  # an expanded (stride 0) upstream gradient
    assert ws.grad is not None and x.grad is None
    _, gw, _ = gold_grads(x, w, None, torch.ones(9, 1))
    assert rel_l2(ws.grad, gw) < 1e-6


def test_inputs_unchanged_and_gradients_repeatable():
    x, w, b = make_problem(19, 30, 41, seed=8)
    keep = [t.clone() for t in (x, w, b)]
    g = torch.randn(19, 1)
    fn = lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -10.0, 10.0, "tf32")  # noqa: E731
    first = our_grads(fn, x, w, b, g)
    second = our_grads(fn, x, w, b, g)
    assert all(torch.equal(a, c) for a, c in zip(first, second))
    assert all(torch.equal(a, c) for a, c in zip((x, w, b), keep))


def test_no_grad_saves_nothing_and_grad_saves_p_and_lse():
    x, w, b = make_problem(5, 12, 9, seed=10)
    ws = w.clone().requires_grad_()
    _, lse, p = torch.ops.lsemish.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, "fp32", False)
    assert lse.numel() == 0 and p.numel() == 0
    with torch.no_grad():
        assert not linear_lse_mish(x, ws, b, 2.0, -10.0, 10.0, "fp32").requires_grad
    out, lse, p = torch.ops.lsemish.linear_lse_mish(x, ws, b, 2.0, -10.0, 10.0, "fp32", True)
    assert lse.shape == (5,) and p.shape == (5, 9) and out.requires_grad and not p.requires_grad
    pre = 2 * ((x.double() @ w.double().T + b.double()) * 2.0)
    torch.testing.assert_close(p.double(), pre, rtol=1e-6, atol=1e-6)


def test_backward_recomputes_what_was_not_saved_and_survives_retain_graph():
    x, w, b = make_problem(5, 12, 9, seed=11)
    g = torch.randn(5, 1)
    grads = []
    for save in (True, False):
        ws = w.clone().requires_grad_()
        out = torch.ops.lsemish.linear_lse_mish(x, ws, b, 2.0, -10.0, 10.0, "fp32", save)[0]
        out.backward(g, retain_graph=True)
        first = ws.grad.clone()
        ws.grad = None
        out.backward(g)  # the first backward released p: it must be recomputed
        grads += [first, ws.grad]
    # the eager path (an autograd.Function around the same code) agrees bitwise with the registered op
    ws = w.clone().requires_grad_()
    linear_lse_mish(x, ws, b, 2.0, -10.0, 10.0, "fp32").backward(g)
    grads.append(ws.grad)
    assert all(torch.equal(grads[0], t) for t in grads[1:])


def test_out_argument_is_not_differentiable():
    x, w, b = make_problem(5, 12, 9, seed=12)
    with pytest.raises(RuntimeError, match="automatic differentiation"):
        linear_lse_mish(x, w.requires_grad_(), b, 2.0, -10.0, 10.0, out=torch.empty(5, 1))


@pytest.mark.parametrize("precision", ["tf32", "fp32", "bf16"])
def test_poisoned_gradient_buffers_are_fully_written(precision):
    from lsemish import model_new as mn
    x, w, b = make_problem(23, 31, 37, seed=13)
    g = torch.randn(23, 1)
    out = torch.full((23, 1), float("nan"))
    lse = torch.full((23,), float("nan"))
    p = torch.full((23, 37), float("nan"))
    consts, mode = (2.0, -10.0, 10.0), mn._MODE_OF[precision]
    mn.forward_into(x, w, b, consts, mode, out, lse, p)
    dx, dw, db = (torch.full(s, float("nan")) for s in ((23, 31), (37, 31), (37,)))
    mn._backward_into(g, x, w, lse, p, consts, mode, dx, dw, db)
    for t in (out, lse, p, dx, dw, db):
        assert torch.isfinite(t).all()


def test_gradcheck_float64():
    # float64 inputs take the native path, float64 throughout (clamp bounds chosen so some elements saturate)
    x, w, b = (t.requires_grad_() for t in make_problem(3, 5, 4, seed=14, dtype=torch.float64))
    fn = lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -1.0, 1.0)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w, b))


@pytest.mark.parametrize("precision,dtype", [("tf32", torch.float32), ("fp32", torch.float32),
                                             ("tf32", torch.bfloat16)])
def test_ops_are_registered(precision, dtype):
    # Every opcheck test, AOT dispatch included: the ops are opaque custom ops, so tracing sees only their fake
    # implementations and the compiled graph calls the real ones (the same kernels as eager code). bf16: the
    # training forward saves E, whose dtype the fake implementation must say too.
    from torch.library import opcheck
    x, w, b = make_problem(6, 12, 8, seed=15, dtype=dtype)
    for save in (True, False):
        args = (x.requires_grad_(), w.requires_grad_(), b.requires_grad_(), 2.0, -10.0, 10.0, precision, save)
        opcheck(torch.ops.lsemish.linear_lse_mish.default, args)
    _, lse, p = torch.ops.lsemish.linear_lse_mish(*args[:-1], True)
    g = torch.randn(6, 1).to(dtype)
    gargs = (g, x.detach(), lse.detach(), p.detach(), 2.0, -10.0, 10.0, precision, True)
    opcheck(torch.ops.lsemish.lse_mish_grad.default, gargs)
    g_hi, g_lo, _ = torch.ops.lsemish.lse_mish_grad(*gargs)
    opcheck(torch.ops.lsemish.linear_grads.default, (g_hi, g_lo, x.detach(), w.detach(), precision, True, True))


@pytest.mark.parametrize("precision", ["tf32", "fp32"])
def test_compiled_model_runs_the_same_kernels(precision):
    # torch.compile traces the ops through their fake implementations and calls the real ones: forward and
    # gradients equal eager's bitwise (aot_eager: the same graph Inductor gets, without code generation on the CPU).
    from lsemish import ModelNew
    torch._dynamo.reset()
    torch.manual_seed(3)
    model = ModelNew(16, 12, 2.0, -10.0, 10.0, precision=precision)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.rand(10, 16)
    g = torch.randn(10, 1)
    results = []
    for fn in (model, compiled):
        model.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        out = fn(xi)
        out.backward(g)
        results.append([out.detach(), xi.grad] + [p.grad for p in model.parameters()])
        with torch.no_grad():
            results[-1].append(fn(x))
    for got, want in zip(*results):
        assert torch.equal(got, want)


@pytest.mark.parametrize("M,N", [(37, 44), (5, 20)])
def test_tf32_training_forward_through_the_tma_kernel(M, N, monkeypatch):
    # K and N multiples of 4: the training forward runs the TMA-rounded kernel, which also stores P and lse (a spy
    # proves it); P equals the pre-clamp values of the rounded operands, and the gradients match float64 on them.
    calls = forward_paths(monkeypatch)
    x, w, b = make_problem(M, 64, N, dist="randn", seed=M)
    ws = w.clone().requires_grad_()
    out, lse, p = torch.ops.lsemish.linear_lse_mish(x, ws, b, 2.0, -10.0, 10.0, "tf32", True)
    assert calls == ["tma"] and p.shape == (M, N)  # the TMA kernel ran, and stored P
    xr, wr = tf32(x, "round").double(), tf32(w, "round").double()
    pre = 2 * ((xr @ wr.T + b.double()) * 2.0)
    torch.testing.assert_close(p.double(), pre, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(lse.double(), torch.logsumexp(pre.clamp(-10.0, 10.0), dim=1), rtol=1e-6, atol=1e-6)
    g = torch.randn(M, 1, generator=torch.Generator().manual_seed(M))
    _, *grads = our_grads(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -10.0, 10.0, "tf32"), x, w, b, g)
    for got, ref in zip(grads, gold_grads(tf32(x, "round"), tf32(w, "round"), b, g)):
        assert rel_l2(got, ref) < 1e-3  # the backward products round G and the other operand to tf32 (2^-11)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("M,K,N", [(40, 64, 48), (5, 32, 80), (33, 48, 16)])
def test_16bit_gradients_take_the_shared_memory_products(dtype, M, K, N, monkeypatch):
    # bf16 and fp16 models' dX = G W and dW = G^T x: both operands through TMA into shared memory (G read transposed
    # there for dW, never copied), fp32 accumulation, one rounding to the model's dtype; errors against float64
    # within twice eager's in the same dtype (eager computes the whole chain in 16 bits: far worse here) and within
    # the register-operand path's (which the interpreter's truncating stores make slightly worse).
    from lsemish.problems.problem22 import reference_forward
    import lsemish.model_new as mn
    ran = []
    real = mn._smem_grad_product
    monkeypatch.setattr(mn, "_smem_grad_product", lambda *a: ran.append(a[-1]) or real(*a))
    x, w, b = make_problem(M, K, N, seed=M + N, dtype=dtype)
    g = torch.randn(M, 1, generator=torch.Generator().manual_seed(5)).to(dtype)
    _, *grads = our_grads(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -10.0, 10.0), x, w, b, g)
    assert sorted(ran) == [False, True]  # dX (G as stored) and dW (G transposed)
    monkeypatch.setattr(mn, "_smem_grads_apply", lambda *a: False)
    _, *register = our_grads(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -10.0, 10.0), x, w, b, g)
    _, *eager = our_grads(lambda xx, ww, bb: reference_forward(xx, ww, bb, 2.0, -10.0, 10.0), x, w, b, g)
    for got, reg, eag, ref in zip(grads, register, eager, gold_grads(x, w, b, g)):
        assert got.dtype == dtype
        assert rel_l2(got, ref) <= 2 * rel_l2(eag, ref) and rel_l2(got, ref) <= 1.05 * rel_l2(reg, ref) + 1e-6


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("rows,red,cols", [(40, 24, 48), (33, 16, 24)])
def test_16bit_products_store_the_same_through_a_bulk_copy(dtype, rows, red, cols, monkeypatch):
    # TMA_STORE (the Hopper config's) writes each output tile by one bulk copy, clipped at the edges: the same values
    # as the masked stores, nothing outside the output (a larger buffer's margin keeps its poison), both roles.
    import lsemish.model_new as mn
    gen = torch.Generator().manual_seed(rows + cols)
    g = torch.randn(rows, red, generator=gen).to(dtype)
    for b_rows, transposed in ((red, False), (rows, True)):
        b = torch.randn(b_rows, cols, generator=gen).to(dtype)
        outs = []
        for tma_store in (False, True):
            cfg = dict(mn._SMEM_GRAD_CONFIGS["interpreter"], TMA_STORE=tma_store)
            monkeypatch.setitem(mn._SMEM_GRAD_CONFIGS, "interpreter", cfg)
            out_rows = red if transposed else rows
            buf = torch.full((out_rows + 3, cols + 8), float("nan"), dtype=dtype)
            out = buf[:out_rows, :cols]
            mn._smem_grad_product("interpreter", g, b, out, transposed)
            assert torch.isnan(buf[out_rows:]).all() and torch.isnan(buf[:, cols:]).all()
            outs.append(out.clone())
        want = (g.double().t() if transposed else g.double()) @ b.double()
        assert torch.equal(outs[0], outs[1]) and rel_l2(outs[1], want) < 1e-2


def _saved_and_g(x, w, b, g, lo, hi, scale=2.0):
    # the training forward's saved tensor, G and db of a model whose clamp is [lo, hi]
    _, lse, p = torch.ops.lsemish.linear_lse_mish(x, w, b, scale, lo, hi, "tf32", True)
    G, _, db = torch.ops.lsemish.lse_mish_grad(g, x, lse, p, scale, lo, hi, "tf32", True)
    return p, G, db


@pytest.mark.parametrize("dtype,lo,hi,saves", [
    (torch.bfloat16, -10.0, 10.0, torch.bfloat16), (torch.bfloat16, 3.0, -1.0, torch.bfloat16),
    (torch.bfloat16, -40.0, 24.0, torch.bfloat16), (torch.bfloat16, -40.0, 24.5, torch.float32),
    (torch.bfloat16, -float("inf"), 10.0, torch.float32), (torch.bfloat16, 2.0**30 + 1, 2.0**30 + 65, torch.float32),
    (torch.float16, -10.0, 10.0, torch.float32),
    (torch.float32, -10.0, 10.0, torch.float32)])
def test_what_the_training_forward_saves(dtype, lo, hi, saves):
    # E (bf16) for bf16 models whose clamp bounds are finite and at most E_SPAN = 64 apart in fp32 (2^30 + 1 and
    # 2^30 + 65 are 128 apart there); P (fp32) otherwise
    import lsemish.model_new as mn
    x, w, b = make_problem(9, 16, 24, seed=3, dtype=dtype)
    p, G, _ = _saved_and_g(x, w, b, torch.randn(9, 1).to(dtype), lo, hi)
    assert p.dtype == saves == mn.p_dtype(x, lo, hi) and p.shape == (9, 24)
    if saves == torch.bfloat16:  # E: exp(clamp(y) - hi) in (0, 1] where the clamp passes the gradient, -1 elsewhere
        assert ((p == -1) | ((p > 0) & (p <= 1))).all()
        assert ((p == -1) == (G == 0)).all() or lo > hi


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
@pytest.mark.parametrize("scale", [2.0, 40.0])
def test_e_gives_p_s_gradients(dist, scale, monkeypatch):
    # A bf16 model saving E against the same model saving P (forced): G is zero at exactly the same places (both
    # masks come from the same fp32 pre-clamp values; rows of NaN, +-inf and saturated values included), the same
    # NaNs, and values within two bf16 roundings (E's and G's); the gradients against float64 within 2x eager's
    # (issue 23's bound; measured here 0.02-0.64x), dx and dw within 2x P's (measured 0.56-1.51x). db is left out of
    # that second bound: it sums G over the batch, where signs cancel and E's rounding noise shows (up to 3.5x P's).
    import lsemish.model_new as mn
    from lsemish.problems.problem22 import reference_forward
    M, K, N = 21, 40, 72
    x, w, b = make_problem(M, K, N, dist=dist, seed=_seed(dist, scale), dtype=torch.bfloat16)
    x[3, 5], x[7, 2], x[11, 0] = float("nan"), float("inf"), -float("inf")
    g = torch.randn(M, 1, generator=torch.Generator().manual_seed(4)).to(torch.bfloat16)
    p_e, G_e, db_e = _saved_and_g(x, w, b, g, -10.0, 10.0, scale)
    monkeypatch.setattr(mn, "p_dtype", lambda xx, lo, hi: mn.epilogue_dtype(xx))
    p_p, G_p, db_p = _saved_and_g(x, w, b, g, -10.0, 10.0, scale)
    assert p_e.dtype == torch.bfloat16 and p_p.dtype == torch.float32
    assert torch.equal(G_e == 0, G_p == 0) and torch.equal(G_e.isnan(), G_p.isnan())
    ok = G_p.isfinite() & (G_p != 0)
    assert ok.sum() > M * N // 20  # compared somewhere (scale 40 saturates most values)
    assert ((G_e[ok].double() - G_p[ok].double()).abs() <= 2 ** -7 * G_p[ok].double().abs()).all()
    monkeypatch.undo()
    x[3, 5], x[7, 2], x[11, 0] = 0.5, 0.25, -0.5  # finite rows for the gradients' errors
    run = lambda fn: our_grads(fn, x, w, b, g)[1:]  # noqa: E731
    got = run(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, scale, -10.0, 10.0))
    monkeypatch.setattr(mn, "p_dtype", lambda xx, lo, hi: mn.epilogue_dtype(xx))
    with_p = run(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, scale, -10.0, 10.0))
    eager = run(lambda xx, ww, bb: reference_forward(xx, ww, bb, scale, -10.0, 10.0))
    for name, a, pp, e, ref in zip("xwb", got, with_p, eager, gold_grads(x, w, b, g, scale)):
        assert rel_l2(a, ref) <= 2 * rel_l2(e, ref), name
        assert name == "b" or rel_l2(a, ref) <= 2 * rel_l2(pp, ref), name


def test_e_and_p_plans_do_not_mix():
    # The same bf16 shapes trained with a clamp that saves E and one that saves P, in turn: each call its own plan
    # (the forward's plan key holds the saved tensor's dtype), each gradient right.
    x, w, b = make_problem(17, 32, 40, seed=8, dtype=torch.bfloat16)
    g = torch.randn(17, 1, generator=torch.Generator().manual_seed(9)).to(torch.bfloat16)
    for lo, hi in ((-10.0, 10.0), (-100.0, 100.0), (-10.0, 10.0), (-100.0, 100.0)):
        _, *grads = our_grads(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, lo, hi), x, w, b, g)
        for got, ref in zip(grads, gold_grads(x, w, b, g, 2.0, lo, hi)):
            assert rel_l2(got, ref) < 2e-2, (lo, hi)
