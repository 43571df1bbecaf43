"""Nsight Compute on each kernel of one forward, written in the seed's JSON shape (keyed by kernel name)."""
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


def run_profile(candidate, shape, out_path, log=print, problem=None):
    ncu = find_ncu()
    target = [sys.executable, "-m", "lsemish.profile", "--shape", ",".join(map(str, shape))]
    if candidate:
        target += ["--candidate", candidate]
    if problem:
        target += ["--problem", problem]
    # Only the kernels between cudaProfilerStart and Stop in forward_once: the model's, not the inputs' creation.
    cmd = [ncu, "--clock-control", "none", "--profile-from-start", "off", "--csv", "--metrics",
           ",".join(METRICS)] + target
    log("running: " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        raise SystemExit(f"profile: ncu failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    result = parse_ncu_csv(proc.stdout)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
    return result


def forward_once(candidate, shape, problem=None):
    """The profiled program: build the model, run one warm-up and one profiled forward (problem 22 at `shape`, or
    any KernelBench-format problem on its get_inputs())."""
    import torch

    from .check import build_model, load_candidate, load_problem
    module = load_candidate(candidate)
    if problem is None:
        M, K, N = shape
        model = build_model(module, [K, N, 2.0, -10.0, 10.0], "tf32", 0).cuda()
        inputs = [torch.rand(M, K, device="cuda")]
    else:
        spec = load_problem(problem)
        torch.manual_seed(0)
        model = module.ModelNew(*spec.get_init_inputs()).cuda()
        inputs = [v.cuda() if isinstance(v, torch.Tensor) else v for v in spec.get_inputs()]
    with torch.no_grad():
        model(*inputs)  # compiles and loads the kernels, outside the profiled range
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStart()
        model(*inputs)
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStop()


if __name__ == "__main__":
    # The program ncu profiles: python -m lsemish.profile [--candidate F] [--shape M,K,N]
    import argparse

    from .cli import HEADLINE, _shape
    parser = argparse.ArgumentParser(prog="python -m lsemish.profile", description=forward_once.__doc__)
    parser.add_argument("--candidate", help="file defining ModelNew (default: lsemish's own)")
    parser.add_argument("--shape", type=_shape, default=HEADLINE, help="M,K,N (problem 22)")
    parser.add_argument("--problem", help="a KernelBench-format problem file (default: problem 22)")
    cli_args = parser.parse_args()
    forward_once(cli_args.candidate, cli_args.shape, cli_args.problem)
