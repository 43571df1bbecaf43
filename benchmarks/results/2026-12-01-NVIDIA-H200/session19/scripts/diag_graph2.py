# session 19: after a torch.compile of the bf16 model, which step invalidates the bf16 backward's graph capture
import ctypes, glob, os, sys, torch
import lsemish.model_new as mn
from lsemish import ModelNew
import triton
from triton.runtime import _allocation
lib = None
for pat in [os.path.join(os.path.dirname(torch.__file__), "lib", "libcudart.so*")] + glob.glob("/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu*/lib/libcudart.so*"):
    for f in glob.glob(pat) if "*" in pat else [pat]:
        try:
            lib = ctypes.CDLL(f); break
        except OSError:
            pass
    if lib: break
def status(stream):
    if lib is None: return "?"
    s = ctypes.c_int(-1)
    lib.cudaStreamIsCapturing(ctypes.c_void_p(stream), ctypes.byref(s))
    return {0: "none", 1: "active", 2: "INVALIDATED"}.get(s.value, s.value)
orig_run, orig_resolve = mn._run, mn._resolve
log = False
def run(plan, grid, stream, args):
    before = status(stream)
    try:
        return orig_run(plan, grid, stream, args)
    finally:
        if log or before != "none":
            print(f"  run {plan.kernel.__name__} {before}->{status(stream)} allocator={_allocation._allocator.get()!r:.60}", flush=True)
def resolve(kernel, *a, **k):
    print(f"  resolve {kernel.__name__} capturing={torch.cuda.is_current_stream_capturing()}", flush=True)
    return orig_resolve(kernel, *a, **k)
mn._run, mn._resolve = run, resolve
def model():
    torch.manual_seed(0)
    return ModelNew(256, 384, 2.0, -10.0, 10.0, precision="bf16").cuda()
if "compile" in sys.argv:
    torch._dynamo.reset()
    m = model(); x = torch.rand(96, 256, device="cuda", requires_grad=True)
    c = torch.compile(m, fullgraph=True)
    c(x).backward(torch.randn(96, 1, device="cuda"))
    print("compiled step done; allocator now", repr(_allocation._allocator.get())[:80], flush=True)
m = model(); x = torch.rand(128, 256, device="cuda", requires_grad=True)
try:
    torch.cuda.make_graphed_callables(m, (x,))
    print("captured OK")
except Exception as e:
    print("FAILED:", type(e).__name__, str(e)[:200])
