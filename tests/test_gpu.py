"""torch integration on a GPU: opcheck, torch.compile(fullgraph=True), CUDA graphs, a second device.

Skipped without CUDA (CI is CPU-only); run on the GPU machine with
`PYTHONPATH=src TRITON_INTERPRET=0 python -m pytest tests/test_gpu.py -v`.
"""
import os

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1",
                                reason="needs a CUDA GPU and compiled (not interpreted) kernels")

INIT = [256, 384, 2.0, -10.0, 10.0]
PRECISIONS = ["tf32", "fp32", "bf16"]


def _model(precision, dtype=torch.float32):
    from lsemish import ModelNew
    torch.manual_seed(0)
    return ModelNew(*INIT, precision=precision).cuda().to(dtype)


def _step(model, x, g):
    model.zero_grad(set_to_none=True)
    x.grad = None
    out = model(x)
    out.backward(g)
    return [out.detach().clone(), x.grad.clone()] + [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_opcheck(precision):
    from torch.library import opcheck

    import lsemish.model_new  # noqa: F401  (registers torch.ops.lsemish.*)
    x = torch.rand(64, 256, device="cuda", requires_grad=True)
    w = (torch.randn(384, 256, device="cuda") / 16).requires_grad_()
    b = torch.randn(384, device="cuda", requires_grad=True)
    for save in (True, False):
        opcheck(torch.ops.lsemish.linear_lse_mish.default, (x, w, b, 2.0, -10.0, 10.0, precision, save))
    _, lse, p = torch.ops.lsemish.linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision, True)
    g = torch.randn(64, 1, device="cuda")
    gargs = (g, x.detach(), lse.detach(), p.detach(), 2.0, -10.0, 10.0, precision, True)
    opcheck(torch.ops.lsemish.lse_mish_grad.default, gargs)
    g_hi, g_lo, _ = torch.ops.lsemish.lse_mish_grad(*gargs)
    opcheck(torch.ops.lsemish.linear_grads.default, (g_hi, g_lo, x.detach(), w.detach(), precision, True, True))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_compile_fullgraph_forward_and_backward(precision):
    torch._dynamo.reset()
    model = _model(precision)
    x = torch.rand(96, 256, device="cuda", requires_grad=True)
    g = torch.randn(96, 1, device="cuda")
    eager = _step(model, x, g)
    compiled = torch.compile(model, fullgraph=True)  # fullgraph: any graph break is an error
    got = _step(compiled, x, g)
    for a, e in zip(got, eager):
        torch.testing.assert_close(a, e, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_cuda_graph_capture_and_replay(precision):
    # Warm-up (Triton compiles each kernel on its first launch) happens inside make_graphed_callables, on a side
    # stream, before capture. Replays must equal eager on fresh data copied into the captured input.
    model = _model(precision)
    x = torch.rand(128, 256, device="cuda", requires_grad=True)
    graphed = torch.cuda.make_graphed_callables(model, (x,))
    for seed in range(3):
        torch.manual_seed(seed)
        xin = torch.rand(128, 256, device="cuda", requires_grad=True)
        g = torch.randn(128, 1, device="cuda")
        eager = _step(model, xin, g)
        got = _step(graphed, xin, g)
        for a, e in zip(got, eager):
            assert torch.equal(a, e)


def test_cuda_graph_forward_only_no_host_sync():
    model = _model("tf32")
    x = torch.rand(128, 256, device="cuda")
    with torch.no_grad():
        want = model(x)
        graph = torch.cuda.CUDAGraph()
        model(x)
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            out = model(x)
        x.copy_(torch.rand_like(x))
        graph.replay()
        torch.testing.assert_close(out, model(x), rtol=0, atol=0)
        assert not torch.equal(out, want)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_second_device():
    from lsemish import linear_lse_mish
    torch.manual_seed(0)
    x, w, b = torch.rand(64, 256), torch.randn(384, 256) / 16, torch.randn(384)
    outs = []
    for dev in ("cuda:0", "cuda:1"):
        xs, ws, bs = (t.to(dev).requires_grad_() for t in (x, w, b))
        out = linear_lse_mish(xs, ws, bs, 2.0, -10.0, 10.0, "fp32")
        out.sum().backward()
        assert out.device == torch.device(dev) and ws.grad.device == torch.device(dev)
        outs.append([t.cpu() for t in (out, xs.grad, ws.grad, bs.grad)])
    for a, c in zip(*outs):
        assert torch.equal(a, c)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_native_dtype_backward(dtype):
    # A model moved with .to(dtype): forward and backward in that dtype, gradients close to float64's.
    from lsemish.problem import reference_forward
    model = _model("tf32", dtype)
    x = torch.rand(64, 256, device="cuda", dtype=dtype, requires_grad=True)
    g = torch.randn(64, 1, device="cuda", dtype=dtype)
    got = _step(model, x, g)
    w, b = (p.detach().double().requires_grad_() for p in model.parameters())
    xd = x.detach().double().requires_grad_()
    out = reference_forward(xd, w, b, 2.0, -10.0, 10.0)
    out.backward(g.double())
    tol = 1e-12 if dtype == torch.float64 else 3e-2  # float64 models compute in float64 throughout
    for a, ref in zip(got, [out.detach(), xd.grad, w.grad, b.grad]):
        assert a.dtype == dtype
        assert float((a.double() - ref).norm() / ref.norm()) < tol


@pytest.mark.parametrize("precision", PRECISIONS)
def test_inf_rows_follow_the_reference(precision):
    # The fp32 mode's second pass over rows holding +-inf (TMA loads, early exit of tiles without such rows).
    from lsemish import linear_lse_mish
    from lsemish.problem import reference_forward
    torch.manual_seed(3)
    x, w = torch.rand(300, 512, device="cuda"), torch.randn(640, 512, device="cuda") / 23
    b = torch.randn(640, device="cuda")
    clean = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision)
    x[7, 11], x[150, 0], x[299, 500] = float("inf"), -float("inf"), float("inf")
    out = linear_lse_mish(x, w, b, 2.0, -10.0, 10.0, precision)
    ref = reference_forward(x.double(), w.double(), b.double(), 2.0, -10.0, 10.0)
    assert torch.equal(out.isnan(), ref.isnan())
    torch.testing.assert_close(out[[7, 150, 299]].double(), ref[[7, 150, 299]], rtol=1e-6, atol=1e-6)
    others = [i for i in range(300) if i not in (7, 150, 299)]
    assert torch.equal(out[others], clean[others])  # the other rows are untouched by the second pass
