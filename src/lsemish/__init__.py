"""lsemish: a fused, accurate Triton forward for Linear -> scale -> x+x -> clamp -> logsumexp -> x*mish(x)."""
from . import problem
from .model_new import PRECISIONS, ModelNew, linear_lse_mish

__all__ = ["ModelNew", "linear_lse_mish", "problem", "PRECISIONS"]
__version__ = "0.1.0"
