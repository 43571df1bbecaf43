"""One rank of a distributed test (gloo, CPU, Triton's interpreter): python dist_worker.py RANK WORLD STORE OUT
SCENARIO. Writes OUT (a torch file) with what the rank computed, or the error it raised."""
import os
import sys

os.environ["TRITON_INTERPRET"] = "1"
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

rank, world, store, out_path, scenario = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
from lsemish import ModelNew  # noqa: E402
from lsemish.distributed import ShardedModelNew, linear_lse_mish, shard_rows  # noqa: E402

M, K, N = 7, 16, 47
torch.manual_seed(0)
model = ModelNew(K, N, 2.0, -10.0, 10.0, precision="fp32")
x = torch.randn(M, K)
g = torch.randn(M, 1)
result = {}
try:
    if scenario == "forward_backward":
        sharded = ShardedModelNew(model)
        xs = x.clone().requires_grad_()
        out = sharded(xs)
        out.backward(g)
        result = {"out": out.detach(), "dx": xs.grad, "dw": sharded.weight.grad, "db": sharded.bias.grad,
                  "rows": sharded.rows[rank], "state": sharded.gather_state_dict()}
    elif scenario == "empty_shard":
        start, stop = shard_rows(N, world)[rank]
        stop = start if rank == world - 1 else stop
        linear_lse_mish(x, model.matmul.weight.detach()[start:stop], model.matmul.bias.detach()[start:stop],
                        2.0, -10.0, 10.0, precision="fp32")
    elif scenario == "mismatched_x":  # another x of the same shape: found only when asked (check_inputs)
        sharded = ShardedModelNew(model, check_inputs=True)
        sharded(x + (1e-3 if rank == 1 else 0.0))
    elif scenario == "mismatched_shape":  # found on the first call with these shapes, without being asked
        sharded = ShardedModelNew(model)
        sharded(x[:M - rank])
    elif scenario == "inference_stores_nothing":  # under no_grad, with W requiring grad: no (M, N/world) P made
        import lsemish.model_new as mn
        sharded, given = ShardedModelNew(model), []
        real = mn.forward_into
        mn.forward_into = lambda *a: given.append(a[7] is not None) or real(*a)
        with torch.no_grad():
            out = sharded(x)
        result = {"out": out, "p_given": given, "requires_grad": sharded.weight.requires_grad}
except ValueError as e:
    result = {"error": str(e)}
torch.save(result, out_path)
dist.barrier()  # every rank reaches teardown before any leaves: gloo can abort a rank whose peer has gone
dist.destroy_process_group()
# Leave without the interpreter's teardown: gloo's threads, destroyed at exit, aborted a rank now and then
# ("terminate called without an active exception", once in a full run on a loaded machine) after its result was saved.
os._exit(0)
