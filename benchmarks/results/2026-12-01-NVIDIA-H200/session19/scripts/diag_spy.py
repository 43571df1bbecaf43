# pytest plugin (session 19): log every lsemish launch while a stream is capturing, with the capture status before
# and after, to find what invalidates test_cuda_graph_capture_and_replay[bf16]'s capture
import ctypes, glob, os, torch
import lsemish.model_new as mn
lib = None
for f in glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "libcudart.so*")) + glob.glob("/opt/torch/.venv/lib/python3.12/site-packages/nvidia/*/lib/libcudart.so*"):
    try:
        lib = ctypes.CDLL(f); break
    except OSError:
        pass
def status(stream):
    s = ctypes.c_int(-1)
    if lib is not None:
        lib.cudaStreamIsCapturing(ctypes.c_void_p(stream), ctypes.byref(s))
    return {0: "none", 1: "active", 2: "INVALIDATED"}.get(s.value, s.value)
orig_run, orig_resolve, orig_kept = mn._run, mn._resolve, mn._kept_buffers
def run(plan, grid, stream, args):
    before = status(stream)
    try:
        return orig_run(plan, grid, stream, args)
    finally:
        if before != "none":
            print(f"\n  run {plan.kernel.__name__} {before}->{status(stream)} stream={stream} cur={torch.cuda.current_stream().cuda_stream}", flush=True)
def resolve(kernel, *a, **k):
    print(f"\n  resolve {kernel.__name__} capturing={torch.cuda.is_current_stream_capturing()}", flush=True)
    return orig_resolve(kernel, *a, **k)
mn._run, mn._resolve = run, resolve
import torch.autograd.graph as g
