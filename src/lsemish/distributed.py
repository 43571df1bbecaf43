"""The op with W and b sharded over N across the ranks of a torch.distributed group.

Each rank holds N/world rows of W and b (uneven splits allowed, none empty) and the whole x. Forward: each rank's
kernels reduce its shard to a per-row lse over its columns; one all-gather of those (M,) vectors, folded in rank
order, gives the global lse, so every rank computes the same output bit for bit, run after run. Backward: each rank
forms its shard of G = d loss / d (x W^T + b) from the global lse and its own stored pre-clamp values; dW and db stay
local; dx is the sum over ranks of G_shard W_shard, gathered and summed in rank order (deterministic, like the
forward). NCCL on GPUs, gloo on CPUs (through Triton's interpreter).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn

from . import model_new as mn


def _gather(t, group):
    """[t from rank 0, t from rank 1, ...]: equal shapes on every rank."""
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, t.contiguous(), group=group)
    return parts


def _sum_in_rank_order(t, group):
    total = None
    for part in _gather(t, group):
        total = part if total is None else total + part
    return total


# (group, x's shape, dtype and device, the shard's rows) whose shapes every rank has agreed on: checked once
_AGREED = set()


def _check_group_inputs(x, weight_shard, group, contents):
    """Every rank learns of every rank's shapes (and, with `contents`, of x's sum and sum of squares), so that all
    raise together rather than some hanging in a collective. Shapes are checked on the first call with them only
    (a collective and a host synchronisation); contents on every call where asked (as costly again: an opt-in)."""
    key = (id(group), tuple(x.shape), x.dtype, x.device, weight_shard.shape[0])
    if not contents and key in _AGREED:
        return
    rank = dist.get_rank(group)
    facts = [x.shape[0], x.shape[1], weight_shard.shape[0]]
    facts = torch.tensor(facts + [0.0, 0.0], dtype=torch.float64, device=x.device)
    if contents:
        facts[3] = torch.sum(x.detach(), dtype=torch.float64)
        facts[4] = torch.sum(x.detach().square(), dtype=torch.float64)
    table = torch.stack(_gather(facts, group)).cpu()
    empty = [r for r in range(len(table)) if table[r, 2] == 0]
    if empty:
        raise ValueError(f"rank(s) {empty} hold an empty shard of W: every rank needs at least one row "
                         f"(this is rank {rank}; shard rows per rank: {table[:, 2].long().tolist()})")
    differ = [r for r in range(len(table)) if not torch.equal(table[r, [0, 1, 3, 4]], table[0, [0, 1, 3, 4]])]
    if differ:
        raise ValueError(f"x differs across ranks (rank(s) {differ} vs rank 0: shape or contents): every rank must "
                         f"pass the same x (this is rank {rank})")
    _AGREED.add(key)


def _global_lse(lse_local, group):
    """logsumexp over ranks of the ranks' per-row lse, folded in rank order."""
    parts = torch.stack(_gather(lse_local, group))
    top = parts.max(dim=0).values
    top = torch.where(top.isinf(), torch.zeros_like(top), top)
    return top + torch.log(torch.exp(parts - top).sum(dim=0))


def _lse_mish(lse):
    return lse * torch.nn.functional.mish(lse)


def _forward(x, weight, bias, consts, mode, group, p=None):
    """(out, global lse): this rank's lse over its shard (and P, if given), combined with every rank's."""
    M = x.shape[0]
    lse_local = torch.empty((M,), device=x.device, dtype=mn.epilogue_dtype(x))
    out_local = torch.empty((M, 1), device=x.device, dtype=x.dtype)  # the kernels' own; the rank's out is global
    mn.forward_into(x, weight, bias, consts, mode, out_local, lse_local, p)
    lse = _global_lse(lse_local, group)
    return _lse_mish(lse).unsqueeze(1).to(x.dtype), lse


class _ShardedLinearLseMish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, scale, cmin, cmax, group, precision):
        mode = mn.mode_of(x, precision)
        consts = (float(scale), float(cmin), float(cmax))
        p = torch.empty((x.shape[0], weight.shape[0]), device=x.device, dtype=mn.p_dtype(x, consts[1], consts[2]))
        out, lse = _forward(x, weight, bias, consts, mode, group, p)
        ctx.save_for_backward(x, weight, bias, lse)
        ctx.p, ctx.args = p, (consts, mode, group)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, bias, lse = ctx.saved_tensors
        consts, mode, group = ctx.args
        p, ctx.p = ctx.p, None
        if p is None:
            raise RuntimeError("lsemish.distributed: a second backward through this graph is not supported")
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_b = ctx.needs_input_grad[2] and bias is not None
        g_hi, g_lo = mn.g_buffers(x, mode, *p.shape)
        db = torch.empty((p.shape[1],), device=x.device, dtype=x.dtype) if need_b else None
        mn.grad_g_into(grad_out.contiguous(), x, lse.contiguous(), p, consts, mode, g_hi, g_lo, db)
        del p
        dx = torch.empty_like(x) if need_x else None
        dw = torch.empty_like(weight) if need_w else None
        mn.linear_grads_into(g_hi, g_lo, x, weight, mode, dx, dw)
        if need_x:
            dx = _sum_in_rank_order(dx, group)
        return dx, dw, db, None, None, None, None, None


def linear_lse_mish(x, weight_shard, bias_shard, scale_factor, clamp_min, clamp_max, group=None, precision="tf32",
                    check_inputs=False):
    """lsemish.linear_lse_mish with W and b sharded over N across `group` (default: the whole world). Every rank
    passes the same x and its own shard; every rank gets the same (M, 1) output. Differentiable in x (gradient
    summed over ranks), and in the rank's own shard of W and b; where no gradient is needed (torch.no_grad, or
    nothing requires one), nothing is stored for a backward.
    Every rank's shapes are checked against the others' on the first call with them (an empty shard, another x
    shape: every rank raises the same error); `check_inputs=True` also compares x's contents across ranks on every
    call (a collective and a host synchronisation per call). Pass the same `check_inputs` on every rank."""
    mn.check_precision(precision)
    if weight_shard.dim() != 2 or weight_shard.shape[0]:  # an empty shard is reported by every rank, below
        mn.check_inputs(x, weight_shard, bias_shard)
    group = group or dist.group.WORLD
    _check_group_inputs(x, weight_shard, group, check_inputs)
    if not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight_shard, bias_shard))):
        mode = mn.mode_of(x, precision)
        return _forward(x, weight_shard, bias_shard, (float(scale_factor), float(clamp_min), float(clamp_max)), mode,
                        group)[0]
    return _ShardedLinearLseMish.apply(x, weight_shard, bias_shard, scale_factor, clamp_min, clamp_max, group,
                                       precision)


def shard_rows(n, world):
    """[(start, stop)] of each rank's rows: as even as possible, the first n % world ranks one row more."""
    base, extra = divmod(n, world)
    bounds, start = [], 0
    for r in range(world):
        stop = start + base + (r < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


class ShardedModelNew(nn.Module):
    """ModelNew with its Linear layer's rows (out features) split across a group."""

    def __init__(self, model, group=None, check_inputs=False):
        super().__init__()
        self.group = group or dist.group.WORLD
        self.check_inputs = check_inputs  # x's contents compared across ranks on every call (see linear_lse_mish)
        rank, world = dist.get_rank(self.group), dist.get_world_size(self.group)
        n = model.matmul.weight.shape[0]
        if n < world:
            raise ValueError(f"{n} output features cannot be split over {world} ranks without an empty shard")
        self.rows = shard_rows(n, world)
        start, stop = self.rows[rank]
        self.weight = nn.Parameter(model.matmul.weight.detach()[start:stop].clone())
        self.bias = nn.Parameter(model.matmul.bias.detach()[start:stop].clone()) if model.matmul.bias is not None \
            else None
        self.scale_factor, self.clamp_min, self.clamp_max = model.scale_factor, model.clamp_min, model.clamp_max
        self.precision = model.precision

    def forward(self, x):
        return linear_lse_mish(x, self.weight, self.bias, self.scale_factor, self.clamp_min, self.clamp_max,
                               self.group, self.precision, self.check_inputs)

    def gather_state_dict(self):
        """The whole ModelNew's state_dict (matmul.weight, matmul.bias), gathered from every rank's shard."""
        widest = max(stop - start for start, stop in self.rows)
        out = {}
        for name, shard in (("matmul.weight", self.weight), ("matmul.bias", self.bias)):
            if shard is None:
                continue
            padded = shard.detach().new_zeros((widest,) + tuple(shard.shape[1:]))
            padded[:shard.shape[0]] = shard.detach()
            parts = _gather(padded, self.group)
            out[name] = torch.cat([part[:stop - start] for part, (start, stop) in zip(parts, self.rows)])
        return out
