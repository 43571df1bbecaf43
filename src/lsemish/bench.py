"""Side-by-side timings of lsemish's own deliverable in one process: its precision modes, cuBLAS alone, eager and
torch.compile, interleaved. Only trusted code runs here; candidates are timed by evaluate/bench.py, each in a
worker of its own."""
from __future__ import annotations

import sys
import time

import torch
import triton

from .evaluate.compare import PRECISION_TOLERANCE as TOLERANCE
from .problems.problem22 import CONSTANTS, HEADLINE, Model, init_inputs, reference_forward

SHAPES = {"headline": [HEADLINE],
          "sweep": [(1, 8192, 8192), (16, 8192, 8192), (128, 8192, 8192), (1024, 8192, 8192), (4096, 8192, 8192),
                    (8192, 8192, 8192), (1024, 4096, 32000), (1024, 8192, 128256), (333, 1000, 3000),
                    (4096, 4096, 4096)]}
ROUNDS = 3  # contenders are timed in turn, ROUNDS times; each figure is the median over the rounds


def _timed(fn):
    fn()
    torch.cuda.synchronize()
    ms, p20, p80 = triton.testing.do_bench(fn, warmup=25, rep=200, quantiles=[0.5, 0.2, 0.8])
    return ms, p20, p80


def _l2_flush_buffer():
    # KernelBench fills 256 MB before each timed call, which evicts the 50 MB L2.
    return torch.empty(256 * 2**20 // 4, device="cuda")


def kernelbench_call_ms(fn, trials=100, flush=None):
    """Per-call latency as KernelBench's time_execution_with_cuda_event measures it: 3 warm-ups; before each trial
    an L2 flush (a 256 MB fill), CUDA events around one call, a synchronize after it; the mean, first trial
    dropped. Host time that the GPU waits for counts here, unlike in queued GPU time."""
    flush = _l2_flush_buffer() if flush is None else flush
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(trials):
        flush.fill_(1.0)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sum(times[1:]) / (len(times) - 1)


def host_ms(fn, calls=200):
    """Wall time per call of `calls` calls issued without waiting: the host's cost, where the GPU work is small."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    elapsed = time.perf_counter() - t0
    torch.cuda.synchronize()
    return elapsed * 1e3 / calls


def _interleaved(contenders, log):
    """{name: (ms, p20, p80, call_ms, host_ms)}: each a median over ROUNDS rounds that time the contenders in turn."""
    import statistics
    flush = _l2_flush_buffer()
    runs = {name: [] for name, _ in contenders}
    for _ in range(ROUNDS):
        for name, fn in contenders:
            ms, p20, p80 = _timed(fn)
            few = ms > 5.0  # large shapes: fewer calls, the same statistics
            runs[name].append((ms, p20, p80, kernelbench_call_ms(fn, 10 if few else 50, flush),
                               host_ms(fn, 10 if few else 200)))
    out = {}
    for name, r in runs.items():
        out[name] = tuple(statistics.median(v[i] for v in r) for i in range(5))
        log(f"  {name:16s} GPU {out[name][0]:8.4f} ms  [{out[name][1]:.4f}, {out[name][2]:.4f}]  "
            f"per call {out[name][3]:.4f} ms  host {out[name][4]:.4f} ms")
    return out


def measured_peaks(log):
    """TFLOP/s of cuBLAS on an 8192^3 product in fp32, tf32 and bf16: the ceilings the % columns refer to."""
    a = torch.rand(8192, 8192, device="cuda")
    b = torch.rand(8192, 8192, device="cuda")
    peaks = {}
    for name, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True),
                              ("bf16", torch.bfloat16, False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        aa, bb = a.to(dtype), b.to(dtype)
        ms = triton.testing.do_bench(lambda: aa @ bb, warmup=10, rep=100)
        peaks[name] = 2 * 8192**3 / ms * 1e-9
        log(f"peak {name}: {peaks[name]:.0f} TFLOP/s")
    torch.backends.cuda.matmul.allow_tf32 = False
    return peaks


def bench_shape(M, K, N, precisions, log, with_compile=True):
    dev = torch.device("cuda")
    torch.manual_seed(0)
    init = init_inputs(K, N)
    ref = Model(*init).to(dev)
    w, b = ref.matmul.weight.detach(), ref.matmul.bias.detach()
    x = torch.rand(M, K, device=dev)
    gold = reference_forward(x.double(), w.double(), b.double(), *CONSTANTS)
    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.no_grad():
        eager = ref(x)
    flops = 2.0 * M * N * K
    specs = []  # (name, fn, peak kind, tolerance, first-call seconds, work)

    def tf32_scope(fn, tf32):
        def run():
            torch.backends.cuda.matmul.allow_tf32 = tf32
            with torch.no_grad():
                return fn()
        return run

    def add(name, fn, kind, tf32=False, tol=1e-4, work=1):
        fn = tf32_scope(fn, tf32)
        t0 = time.time()
        fn()
        torch.cuda.synchronize()
        specs.append((name, fn, kind, tol, time.time() - t0, work))

    from . import model_new
    for p in precisions:
        model = model_new.ModelNew(*init, precision=p).to(dev)
        model.load_state_dict(ref.state_dict())
        # fp32 mode runs three tf32 products per K step: its % of peak is against the tf32 tensor-core rate; a few
        # rows of x run the FMA kernel (CUDA cores, fp32) in the modes it serves.
        if model_new.forward_path(x, w, b, precision=p) == "fma":
            kind, work = "fp32", 1
        else:
            kind, work = "bf16" if p == "bf16" else "tf32", 3 if p == "fp32" else 1
        add(f"lsemish-{p}", lambda m=model: m(x), kind, tol=TOLERANCE[p], work=work)
    xb, wb, bb = x.bfloat16(), w.bfloat16(), b.bfloat16()
    add("cublas-tf32", lambda: torch.addmm(b, x, w.T), "tf32", tf32=True)
    add("cublas-fp32", lambda: torch.addmm(b, x, w.T), "fp32")
    add("cublas-bf16", lambda: torch.addmm(bb, xb, wb.T), "bf16")
    add("eager-fp32", lambda: ref(x), "fp32")
    add("eager-tf32", lambda: ref(x), "tf32", tf32=True)
    if with_compile:
        log("  compiling torch.compile (default mode) with tf32 ...")
        torch.backends.cuda.matmul.allow_tf32 = True
        compiled = torch.compile(ref)
        add("compile-tf32", lambda: compiled(x), "tf32", tf32=True)
    timings = _interleaved([(sp[0], sp[1]) for sp in specs], log)
    rows = []
    for name, fn, kind, tol, first_s, work in specs:
        ms, p20, p80, call, host = timings[name]
        out = fn()
        row = {"name": name, "M": M, "K": K, "N": N, "ms": ms, "p20": p20, "p80": p80, "call_ms": call,
               "host_ms": host, "tflops": flops / ms * 1e-9, "peak_kind": kind, "peak_work": work,
               "rel_l2_vs_fp64": None, "passes_kernelbench": None, "first_call_s": first_s}
        if out.shape == gold.shape:
            row["rel_l2_vs_fp64"] = float((out.double() - gold).norm() / gold.norm())
            row["passes_kernelbench"] = bool(torch.allclose(out.float(), eager, atol=tol, rtol=tol))
        rows.append(row)
    torch.backends.cuda.matmul.allow_tf32 = False
    base = timings["cublas-tf32"]
    for r in rows:
        r["x_cublas_tf32"] = r["ms"] / base[0]
        r["call_x_cublas_tf32"] = r["call_ms"] / base[3]
    return rows


def bench_backward(M, K, N, precisions, log, with_compile=True):
    """Forward + backward (dx, dW, db from an upstream g) in one process: time, first-call time, peak memory."""
    dev = torch.device("cuda")
    torch.manual_seed(0)
    init = init_inputs(K, N)
    ref = Model(*init).to(dev)
    x = torch.rand(M, K, device=dev).requires_grad_()
    g = torch.randn(M, 1, device=dev)
    grads_mib = (x.numel() + sum(p.numel() for p in ref.parameters())) * 4 / 2**20
    rows = []

    def add(name, model, tf32=False):
        def step():
            model.zero_grad(set_to_none=True)
            x.grad = None
            model(x).backward(g)
        torch.backends.cuda.matmul.allow_tf32 = tf32
        t0 = time.time()
        step()
        torch.cuda.synchronize()
        first_s = time.time() - t0
        ms, p20, p80 = _timed(step)
        model.zero_grad(set_to_none=True)
        x.grad = None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
        torch.backends.cuda.matmul.allow_tf32 = False
        rows.append({"name": name, "M": M, "K": K, "N": N, "ms": ms, "p20": p20, "p80": p80,
                     "tflops": 6.0 * M * N * K / ms * 1e-9, "first_call_s": first_s,
                     "peak_extra_mib": peak / 2**20, "grads_mib": grads_mib})
        log(f"  {name:22s} {ms:8.4f} ms  [{p20:.4f}, {p80:.4f}]  peak +{peak / 2**20:.0f} MiB")

    from . import model_new
    for p in precisions:
        model = model_new.ModelNew(*init, precision=p).to(dev)
        model.load_state_dict(ref.state_dict())
        add(f"lsemish-{p} fwd+bwd", model)
    add("eager-fp32 fwd+bwd", ref)
    add("eager-tf32 fwd+bwd", ref, tf32=True)
    if with_compile:
        log("  compiling (default mode) forward + backward ...")
        add("compile-tf32 fwd+bwd", torch.compile(ref), tf32=True)
        mine = model_new.ModelNew(*init).to(dev)
        mine.load_state_dict(ref.state_dict())
        try:
            add("compiled lsemish-tf32 fwd+bwd", torch.compile(mine, fullgraph=True))
        except Exception as e:  # reported in the log and the JSON, not fatal for the other rows
            log(f"  compiled lsemish-tf32 fwd+bwd FAILED: {type(e).__name__}: {str(e)[:300]}")
            rows.append({"name": "compiled lsemish-tf32 fwd+bwd", "error": repr(e)[:500]})
    base = next(r["ms"] for r in rows if r["name"] == "eager-tf32 fwd+bwd")
    for r in rows:
        if "ms" in r:
            r["x_eager_tf32"] = r["ms"] / base
    return rows


def run_bench(shapes, precisions, with_compile=True, log=print, backward=False):
    """The result (device, versions, rows, backward rows) of lsemish's own bench; report/bench.py writes it."""
    if not torch.cuda.is_available():
        raise SystemExit("bench needs a CUDA GPU (timings through the interpreter would mean nothing)")
    log(f"device: {torch.cuda.get_device_name()}")
    peaks = measured_peaks(log)
    rows = []
    for (M, K, N) in shapes:
        log(f"shape {M}x{K}x{N}")
        rows += bench_shape(M, K, N, precisions, log, with_compile)
    backward_rows = []
    if backward:
        for (M, K, N) in shapes:
            log(f"forward + backward {M}x{K}x{N}")
            backward_rows += bench_backward(M, K, N, precisions, log, with_compile)
    for r in rows:
        r["pct_peak"] = 100 * r["tflops"] * r.get("peak_work", 1) / peaks[r["peak_kind"]]
    return {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
            "date": time.strftime("%Y-%m-%d"), "command": "python -m lsemish " + " ".join(sys.argv[1:]),
            "peaks_tflops": peaks, "rows": rows, "backward_rows": backward_rows}
