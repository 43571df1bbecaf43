"""Nsight Compute on each kernel of one forward, written in the seed's JSON shape (keyed by kernel name). The
profiled program is a sandboxed worker in its profile mode (evaluate/worker.py): the candidate never runs here."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys

METRICS = ["sm__throughput.avg.pct_of_peak_sustained_elapsed", "launch__grid_size",
           "sm__warps_active.avg.pct_of_peak_sustained_active", "dram__throughput.avg.pct_of_peak_sustained_elapsed",
           "lts__t_sector_hit_rate.pct"]


def find_ncu():
    path = shutil.which("ncu")
    if path:
        return path
    for root in ("/usr/local/cuda/bin", "/opt/nvidia/nsight-compute"):
        for dirpath, _, files in os.walk(root):
            if "ncu" in files:
                return os.path.join(dirpath, "ncu")
    raise SystemExit("profile: Nsight Compute (ncu) was not found on PATH or under /usr/local/cuda, "
                     "/opt/nvidia/nsight-compute")


def parse_ncu_csv(text):
    """{kernel: {metric: value}} from `ncu --csv` output; the last launch of each kernel wins."""
    start = text.find('"ID"')
    if start < 0:
        raise SystemExit("profile: ncu produced no metrics (can it read the GPU's counters here?):\n" + text[-2000:])
    result = {}
    for row in csv.DictReader(io.StringIO(text[start:])):
        name = row["Kernel Name"].split("(")[0].strip()
        value = row["Metric Value"].replace(",", "")
        num = float(value)
        result.setdefault(name, {})[row["Metric Name"]] = int(num) if num.is_integer() and "grid" in \
            row["Metric Name"] else num
    return result


def run_profile(candidate, sets, out_path, log=print, problem=None, timeout=600.0):
    """Nsight Compute on one forward of the candidate (default: lsemish's own, for problem 22), run in a sandboxed
    worker (evaluate/worker.py's profile mode: its writes confined to a scratch folder, its environment scrubbed)."""
    import tempfile

    from .evaluate.check import resolve_candidate
    from .evaluate.sandbox import remove_tree, scratch
    from .problems import PROBLEM_22
    ncu = find_ncu()
    problem = os.path.abspath(problem or PROBLEM_22)
    candidate = os.path.abspath(resolve_candidate(problem, candidate))
    folder, env = scratch(tempfile.mkdtemp(prefix="lsemish-profile-"), "profile")
    spec = {"problem": problem, "sets": sets or {}, "candidate": candidate, "seed": 0, "model_kwargs": {}}
    target = [sys.executable, "-m", "lsemish.evaluate.worker", "--scratch", folder, "--profile", json.dumps(spec)]
    # Only the kernels between cudaProfilerStart and Stop: the model's, not the inputs' creation.
    cmd = [ncu, "--clock-control", "none", "--profile-from-start", "off", "--csv", "--metrics",
           ",".join(METRICS)] + target
    log("running: " + " ".join(cmd[:8]) + " ... (the candidate in a sandboxed worker)")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"profile: no result within {timeout:g} s; the profiled run was killed") from None
    finally:
        remove_tree(folder)
    if proc.returncode != 0:
        raise SystemExit(f"profile: ncu failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    result = parse_ncu_csv(proc.stdout)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
    return result
