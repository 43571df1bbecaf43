"""Bad input gets a clear error naming the problem."""
import pytest
import torch
import triton

from lsemish import linear_lse_mish

W, B = torch.rand(6, 4), torch.rand(6)


@pytest.mark.parametrize("x,w,b,exc,msg", [
    (torch.rand(3, 4, 2), W, B, ValueError, "2-D"),
    (torch.rand(4), W, B, ValueError, "2-D"),
    (torch.rand(3, 5), W, B, ValueError, "5 features but weight expects 4"),
    (torch.rand(3, 4).double(), W, B, TypeError, "dtypes differ"),
    (torch.ones(3, 4, dtype=torch.int32), W.int(), B.int(), TypeError, "floating point"),
    (torch.rand(3, 4), W[0], B, ValueError, "weight must be 2-D"),
    (torch.rand(3, 4), W, torch.rand(5), ValueError, "bias must have shape"),
    (torch.rand(3, 4), W, B.double(), TypeError, "bias dtype"),
    ([[1.0] * 4], W, B, TypeError, "torch.Tensor"),
    (torch.rand(3, 4), W, [0.0] * 6, TypeError, "bias must be"),
    (torch.rand(3, 4), torch.rand(0, 4), torch.rand(0), ValueError, "at least one row"),
])
def test_bad_inputs(x, w, b, exc, msg):
    with pytest.raises(exc, match=msg):
        linear_lse_mish(x, w, b, 2.0, -10.0, 10.0)


def test_unknown_precision():
    with pytest.raises(ValueError, match="valid: tf32, fp32, bf16"):
        linear_lse_mish(torch.rand(3, 4), W, B, 2.0, -10.0, 10.0, precision="half")


def test_bad_out():
    with pytest.raises(ValueError, match=r"out must be a \(3, 1\)"):
        linear_lse_mish(torch.rand(3, 4), W, B, 2.0, -10.0, 10.0, out=torch.empty(3))


def test_cpu_tensors_outside_the_interpreter(monkeypatch):
    monkeypatch.setattr(triton.knobs.runtime, "interpret", False)
    with pytest.raises(ValueError, match="needs CUDA tensors.*TRITON_INTERPRET=1"):
        linear_lse_mish(torch.rand(3, 4), W, B, 2.0, -10.0, 10.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU to have two devices")
def test_device_mismatch():
    with pytest.raises(ValueError, match="different devices"):
        linear_lse_mish(torch.rand(3, 4, device="cuda"), W, B, 2.0, -10.0, 10.0)


@pytest.mark.parametrize("major,minor,ok", [(7, 5, False), (8, 0, True), (9, 0, True)])
def test_gpus_without_tf32_tensor_cores_are_named(monkeypatch, major, minor, ok):
    # A Turing card (sm_75) cannot run the kernels' tf32/bf16 instructions: one line naming the GPU, not a
    # compiler error from deep inside Triton.
    import types

    import lsemish.model_new as mn
    props = types.SimpleNamespace(major=major, minor=minor, name="Some GPU", multi_processor_count=40)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: props)
    monkeypatch.setattr(mn, "_DEVICE_FACTS", {})
    device = torch.device("cuda", 3)
    if ok:
        assert mn._device_facts(device) == ("sm90" if major >= 9 else "sm89", 40)
    else:
        with pytest.raises(RuntimeError, match=r"compute capability 8.0 or newer; Some GPU \(cuda:3\) is 7.5"):
            mn._device_facts(device)
