"""#25 diagnosis, no harness: is a launch-bound candidate's queued figure host-bound while its per-call figure is not?
For each suite candidate named on the command line (benchmarks/suite/candidates/NAME.py with its problem), per call:
  host_ms     the wall time for the call to return (no synchronize): its host launch
  percall_ms  KernelBench's figure: L2 flush, start event, call, end event, synchronize
  queued_ms   N calls back to back, wall clock to the synchronize, / N (what the work floor sees)
  flushed_ms  N x (flush, call) back to back less N flushes alone, wall clock / N (the floor with a flushed queue)
Rounds interleaved; medians printed as JSON lines."""
import importlib.util, json, statistics, sys, time
import torch


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(names, n=50, rounds=7):
    flush = torch.empty(256 * 2**20 // 4, device="cuda")
    for name in names:
        prob = load(f"benchmarks/suite/problems/{name}.py", "p_" + name)
        cand = load(f"benchmarks/suite/candidates/{name}.py", "c_" + name)
        torch.manual_seed(0)
        model = cand.ModelNew(*prob.get_init_inputs()).cuda()
        inputs = [x.cuda() if torch.is_tensor(x) else x for x in prob.get_inputs()]
        for _ in range(5):
            model(*inputs)
        torch.cuda.synchronize()
        res = {k: [] for k in ("host_ms", "percall_ms", "queued_ms", "flushed_ms", "flush_ms")}
        for _ in range(rounds):
            hs, ps = [], []
            for _ in range(n):
                flush.fill_(1.0)
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record(); t0 = time.perf_counter(); model(*inputs); hs.append(time.perf_counter() - t0); e.record()
                torch.cuda.synchronize(); ps.append(s.elapsed_time(e))
            res["host_ms"].append(statistics.median(hs) * 1e3); res["percall_ms"].append(statistics.median(ps))
            torch.cuda.synchronize(); t0 = time.perf_counter()
            for _ in range(n):
                model(*inputs)
            torch.cuda.synchronize(); res["queued_ms"].append((time.perf_counter() - t0) * 1e3 / n)
            t0 = time.perf_counter()
            for _ in range(n):
                flush.fill_(1.0)
            torch.cuda.synchronize(); fl = (time.perf_counter() - t0) * 1e3 / n
            t0 = time.perf_counter()
            for _ in range(n):
                flush.fill_(1.0); model(*inputs)
            torch.cuda.synchronize(); both = (time.perf_counter() - t0) * 1e3 / n
            res["flush_ms"].append(fl); res["flushed_ms"].append(both - fl)
        print(json.dumps({"name": name, **{k: round(statistics.median(v), 4) for k, v in res.items()},
                          "spread": {k: [round(min(v), 4), round(max(v), 4)] for k, v in res.items()}}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
