"""lsemish.distributed on the CPU: 2 and 3 gloo processes through Triton's interpreter."""
import os
import subprocess
import sys

import pytest
import torch

from helpers import rel_l2
from lsemish.grad_check import grads_of

WORKER = os.path.join(os.path.dirname(__file__), "dist_worker.py")


def run_ranks(tmp_path, world, scenario):
    store = tmp_path / "store"
    outs = [tmp_path / f"rank{r}.pt" for r in range(world)]
    env = dict(os.environ, TRITON_INTERPRET="1")
    procs = [subprocess.Popen([sys.executable, WORKER, str(r), str(world), str(store), str(outs[r]), scenario],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for r in range(world)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    return [torch.load(o) for o in outs]


def single_process():
    # The same model and inputs as dist_worker.py, through the single-process op.
    from lsemish import ModelNew, linear_lse_mish
    torch.manual_seed(0)
    model = ModelNew(16, 47, 2.0, -10.0, 10.0, precision="fp32")
    x, g = torch.randn(7, 16), torch.randn(7, 1)
    out, dx, dw, db = grads_of(lambda xx, ww, bb: linear_lse_mish(xx, ww, bb, 2.0, -10.0, 10.0, "fp32"),
                               x, model.matmul.weight.detach(), model.matmul.bias.detach(), g)
    return model, out.detach(), dx, dw, db


@pytest.mark.parametrize("world", [2, 3])
def test_sharded_forward_and_gradients_equal_the_single_process_op(tmp_path, world):
    results = run_ranks(tmp_path, world, "forward_backward")
    model, out, dx, dw, db = single_process()
    for r, res in enumerate(results):
        assert torch.equal(res["out"], results[0]["out"]), "every rank gets the same output, bit for bit"
        assert torch.equal(res["dx"], results[0]["dx"])
        assert rel_l2(res["out"], out) < 1e-6 and rel_l2(res["dx"], dx) < 1e-5
        start, stop = res["rows"]
        assert rel_l2(res["dw"], dw[start:stop]) < 1e-5 and rel_l2(res["db"], db[start:stop]) < 1e-5
        for name, value in model.state_dict().items():
            assert torch.equal(res["state"][name], value), name  # shard -> gather round trip
    sizes = [res["rows"][1] - res["rows"][0] for res in results]
    assert sum(sizes) == 47 and len(set(sizes)) == 2  # uneven shards (47 rows over 2 or 3 ranks)


def test_an_empty_shard_is_rejected_on_every_rank(tmp_path):
    for res in run_ranks(tmp_path, 2, "empty_shard"):
        assert "rank(s) [1] hold an empty shard of W" in res["error"]


def test_mismatched_x_is_detected_on_every_rank(tmp_path):
    for res in run_ranks(tmp_path, 3, "mismatched_x"):
        assert "x differs across ranks (rank(s) [1] vs rank 0" in res["error"]


def test_another_x_shape_is_detected_on_every_rank_without_asking(tmp_path):
    for res in run_ranks(tmp_path, 2, "mismatched_shape"):
        assert "x differs across ranks (rank(s) [1] vs rank 0" in res["error"]


def test_inference_stores_nothing_and_matches_training(tmp_path):
    # Under torch.no_grad with W requiring grad: the kernels get no P to store (only lse), and the output is the
    # training forward's, bit for bit.
    (tmp_path / "t").mkdir()
    (tmp_path / "i").mkdir()
    trained = run_ranks(tmp_path / "t", 2, "forward_backward")
    for res, ref in zip(run_ranks(tmp_path / "i", 2, "inference_stores_nothing"), trained):
        assert res["p_given"] == [False] and res["requires_grad"]
        assert torch.equal(res["out"], ref["out"])
