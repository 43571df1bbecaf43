"""ModelNew as a drop-in for the reference Model."""
import pytest
import torch

from helpers import gold
from lsemish import ModelNew
from lsemish.problems.problem22 import Model

INIT = [24, 40, 2.0, -10.0, 10.0]


def test_same_seed_same_parameters_and_keys():
    torch.manual_seed(123)
    ref = Model(*INIT)
    torch.manual_seed(123)
    new = ModelNew(*INIT)
    assert list(ref.state_dict()) == list(new.state_dict()) == ["matmul.weight", "matmul.bias"]
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), new.state_dict().values()))


def test_forward_matches_reference_and_state_dict_round_trip():
    torch.manual_seed(1)
    ref = Model(*INIT)
    new = ModelNew(*INIT, precision="fp32")
    new.load_state_dict(ref.state_dict())
    x = torch.rand(9, 24)
    torch.testing.assert_close(new(x), ref(x), rtol=1e-4, atol=1e-4)
    again = ModelNew(*INIT, precision="fp32")
    again.load_state_dict(new.state_dict())
    assert torch.equal(again(x), new(x))


def test_updates_are_seen_on_the_next_call():
    model = ModelNew(*INIT, precision="fp32")
    x = torch.rand(5, 24)
    before = model(x)
    with torch.no_grad():
        model.matmul.weight.mul_(0.5)
        model.matmul.bias.add_(1.0)
    after = model(x)
    assert not torch.equal(before, after)
    w, b = model.matmul.weight.detach(), model.matmul.bias.detach()
    torch.testing.assert_close(after.double(), gold(x, w, b), rtol=2e-6, atol=2e-6)
    model.load_state_dict({"matmul.weight": torch.zeros(40, 24) + 0.01, "matmul.bias": torch.ones(40)})
    torch.testing.assert_close(model(x).double(), gold(x, torch.zeros(40, 24) + 0.01, torch.ones(40)),
                               rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_to_dtype(dtype):
    model = ModelNew(*INIT).to(dtype)
    x = torch.rand(7, 24, dtype=dtype)
    out = model(x)
    assert out.dtype == dtype
    w, b = model.matmul.weight.detach(), model.matmul.bias.detach()
    tol = 1e-12 if dtype == torch.float64 else 3e-2  # float64 models compute in float64 throughout
    torch.testing.assert_close(out.double(), gold(x, w, b), rtol=tol, atol=tol)


def test_unknown_precision():
    with pytest.raises(ValueError, match="tf32, fp32, bf16"):
        ModelNew(*INIT, precision="fp8")
