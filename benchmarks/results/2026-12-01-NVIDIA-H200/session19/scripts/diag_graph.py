# session 19: which launch in the bf16 backward breaks CUDA graph capture (test_cuda_graph_capture_and_replay[bf16])
import sys, torch
import lsemish.model_new as mn
from lsemish import ModelNew
cap = torch.cuda.is_current_stream_capturing
orig_resolve, orig_run, orig_scratch = mn._resolve, mn._run, mn._descriptor_scratch
def resolve(kernel, *a, **k):
    print(f"  resolve {kernel.__name__} capturing={cap()}", flush=True)
    return orig_resolve(kernel, *a, **k)
def run(plan, grid, stream, args):
    print(f"  run {plan.kernel.__name__ if plan.kernel else plan} capturing={cap()} "
          f"stream={stream} current={torch.cuda.current_stream().cuda_stream}", flush=True)
    return orig_run(plan, grid, stream, args)
def scratch(size, alignment, stream):
    print(f"  scratch {size} capturing={cap()} stream={stream}", flush=True)
    return orig_scratch(size, alignment, stream)
mn._resolve, mn._run, mn._descriptor_scratch = resolve, run, scratch
import triton
triton.set_allocator(scratch)
torch.cuda.set_sync_debug_mode(1)
precision = sys.argv[1] if len(sys.argv) > 1 else "bf16"
torch.manual_seed(0)
model = ModelNew(256, 384, 2.0, -10.0, 10.0, precision=precision).cuda()
x = torch.rand(128, 256, device="cuda", requires_grad=True)
print("forward path:", mn.forward_path(x, model.matmul.weight, model.matmul.bias, precision, training=True))
try:
    torch.cuda.make_graphed_callables(model, (x,))
    print("captured OK")
except Exception as e:
    print("FAILED:", type(e).__name__, str(e)[:300])
