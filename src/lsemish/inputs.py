"""Random inputs for checks: several distributions, never zeros, fresh for every trial."""
import torch

DISTRIBUTIONS = ("rand", "randn", "uniform", "laplace", "lognormal")


def make_x(dist, shape, generator=None, device="cpu", dtype=torch.float32):
    """x of `shape` drawn from `dist` (see DISTRIBUTIONS) on `device`."""
    if dist == "rand":
        x = torch.rand(shape, generator=generator)
    elif dist == "randn":
        x = torch.randn(shape, generator=generator)
    elif dist == "uniform":
        x = torch.rand(shape, generator=generator) * 2 - 1
    elif dist == "laplace":
        u = torch.rand(shape, generator=generator).clamp_(1e-7, 1 - 1e-7) - 0.5
        x = -torch.sign(u) * torch.log1p(-2 * u.abs())
    elif dist == "lognormal":
        x = torch.exp(torch.randn(shape, generator=generator) * 0.5)
    else:
        raise ValueError(f"unknown distribution {dist!r}; valid: {', '.join(DISTRIBUTIONS)}")
    return x.to(device=device, dtype=dtype)
