# pytest plugin (session 20): is a Triton CompiledKernel finalized by Python's cyclic collector while a CUDA graph
# is being captured, and is that what invalidates test_cuda_graph_capture_and_replay[bf16]'s capture? Logs every
# CompiledKernel finalization (name, whether the collector is running, whether a capture is under way) and every
# capture's begin and end.
import gc

import torch
from triton.compiler import compiler

state = {"capturing": 0, "collecting": False}


def _phase(phase, info):
    state["collecting"] = phase == "start"


gc.callbacks.append(_phase)
_del = compiler.CompiledKernel.__del__


def _logged_del(self):
    if getattr(self, "module", None) is not None:
        print(f"\n  finalize {self.name} collector={state['collecting']} capturing={state['capturing']}", flush=True)
    _del(self)


compiler.CompiledKernel.__del__ = _logged_del
_begin, _end = torch.cuda.CUDAGraph.capture_begin, torch.cuda.CUDAGraph.capture_end


def _logged_begin(self, *a, **k):
    state["capturing"] += 1
    print("\n  capture begin", flush=True)
    return _begin(self, *a, **k)


def _logged_end(self, *a, **k):
    try:
        return _end(self, *a, **k)
    finally:
        state["capturing"] -= 1
        print("\n  capture end", flush=True)


torch.cuda.CUDAGraph.capture_begin, torch.cuda.CUDAGraph.capture_end = _logged_begin, _logged_end
