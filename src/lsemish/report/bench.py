"""lsemish's own bench, written: bench.json, bench.md (a table per direction) and charts (bench.png, bench-sweep.png,
bench-backward.png; matplotlib, said once when missing)."""
from __future__ import annotations

import importlib.util
import json
import os
import sys


def _backward_table(rows):
    lines = ["", "Forward + backward (dx, dW, db), cold L2; peak = max allocated during one step minus allocated "
             "before it (includes the gradients themselves, "
             f"{rows[0]['grads_mib']:.0f} MiB, for every row)", "",
             "| name | M×K×N | ms (median) | p20–p80 | TFLOP/s (6MNK) | × eager tf32 fwd+bwd | peak MiB | first call s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | failed: {r['error'][:120]} | | | | | | |")
            continue
        lines.append(f"| {r['name']} | {r['M']}×{r['K']}×{r['N']} | {r['ms']:.4f} | {r['p20']:.4f}–{r['p80']:.4f} | "
                     f"{r['tflops']:.0f} | {r['x_eager_tf32']:.2f} | {r['peak_extra_mib']:.0f} | "
                     f"{r['first_call_s']:.1f} |")
    return lines


def write_results(result, outdir):
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "bench.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = [f"Device: {result['device']}; torch {result['torch']}; triton {result['triton']}; {result['date']}",
             f"Command: `{result['command']}`", "",
             "GPU ms: queued GPU time (median, cold L2); per call: KernelBench's per-call latency (L2 flush, events, "
             "synchronize after each call; mean). Ratios are to cuBLAS tf32 `addmm` in the same process.", "",
             "| name | M×K×N | GPU ms | p20–p80 | × cuBLAS (GPU) | per-call ms | × cuBLAS (per call) | host ms/call | "
             "TFLOP/s | % peak | rel-L2 vs fp64 | KernelBench |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        rel = "—" if r["rel_l2_vs_fp64"] is None else f"{r['rel_l2_vs_fp64']:.2e}"
        ok = "—" if r["passes_kernelbench"] is None else ("pass" if r["passes_kernelbench"] else "FAIL")
        kind = ("3×" if r.get("peak_work", 1) == 3 else "") + r["peak_kind"]
        call = "—" if r.get("call_ms") is None else f"{r['call_ms']:.4f}"
        call_x = "—" if r.get("call_x_cublas_tf32") is None else f"{r['call_x_cublas_tf32']:.2f}"
        host = "—" if r.get("host_ms") is None else f"{r['host_ms']:.4f}"
        lines.append(f"| {r['name']} | {r['M']}×{r['K']}×{r['N']} | {r['ms']:.4f} | {r['p20']:.4f}–{r['p80']:.4f} | "
                     f"{r['x_cublas_tf32']:.2f} | {call} | {call_x} | {host} | {r['tflops']:.0f} | "
                     f"{r['pct_peak']:.0f}% ({kind}) | {rel} | {ok} |")
    if result.get("backward_rows"):
        lines += _backward_table(result["backward_rows"])
    with open(os.path.join(outdir, "bench.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if importlib.util.find_spec("matplotlib") is None:
        print("bench: matplotlib is not installed, so no charts were drawn (pip install matplotlib); "
              f"the results are in {outdir}/bench.json and bench.md", file=sys.stderr)
    else:
        _chart(result, os.path.join(outdir, "bench.png"))
        if len({(r["M"], r["K"], r["N"]) for r in result["rows"]}) > 1:
            _chart_sweep(result, os.path.join(outdir, "bench-sweep.png"))
        if result.get("backward_rows"):
            _chart_backward(result, os.path.join(outdir, "bench-backward.png"))
    return "\n".join(lines)


def _chart(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    first = (result["rows"][0]["M"], result["rows"][0]["K"], result["rows"][0]["N"])
    rows = [r for r in result["rows"] if (r["M"], r["K"], r["N"]) == first]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.2))
    colors = ["tab:green" if r["name"].startswith("lsemish") else
              ("tab:gray" if r["name"].startswith("cublas") else "tab:blue") for r in rows]
    ax.barh([r["name"] for r in rows], [r["ms"] for r in rows], color=colors,
            xerr=[[r["ms"] - r["p20"] for r in rows], [r["p80"] - r["ms"] for r in rows]])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ms (median, cold L2; log scale)")
    ax.set_title(f"{first[0]}×{first[1]}×{first[2]} on {result['device']}")
    for i, r in enumerate(rows):
        mark = "" if r["passes_kernelbench"] is None else (" ✓" if r["passes_kernelbench"] else " ✗ fails 1e-4")
        ax.text(r["ms"] * 1.05, i, f"{r['ms']:.3f}{mark}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _chart_sweep(result, path):
    """Per shape, each contender's ratio to cuBLAS tf32 addmm: queued GPU time (left), per-call latency (right)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shapes = list(dict.fromkeys((r["M"], r["K"], r["N"]) for r in result["rows"]))
    names = [n for n in dict.fromkeys(r["name"] for r in result["rows"]) if n != "cublas-tf32"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, key, title in ((axes[0], "x_cublas_tf32", "queued GPU time"),
                           (axes[1], "call_x_cublas_tf32", "per-call latency (KernelBench)")):
        for name in names:
            pts = {(r["M"], r["K"], r["N"]): r.get(key) for r in result["rows"] if r["name"] == name}
            ax.plot(range(len(shapes)), [pts.get(sh) for sh in shapes], marker="o", label=name,
                    linewidth=2.5 if name.startswith("lsemish") else 1)
        ax.axhline(1.0, color="gray", linestyle=":")
        ax.set_xticks(range(len(shapes)), [f"{m}×{k}×{n}" for m, k, n in shapes], rotation=60, fontsize=7)
        ax.set_yscale("log")
        ax.set_title(f"{title} / cuBLAS tf32 addmm")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{result['device']}; torch {result['torch']}, triton {result['triton']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _chart_backward(result, path):
    """Forward + backward: time per row, and peak memory beside it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in result["backward_rows"] if "ms" in r]
    first = (rows[0]["M"], rows[0]["K"], rows[0]["N"])
    rows = [r for r in rows if (r["M"], r["K"], r["N"]) == first]
    fig, (ax, mem) = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows) + 1.4), sharey=True,
                                  gridspec_kw={"width_ratios": [3, 2]})
    names = [r["name"].replace(" fwd+bwd", "") for r in rows]
    colors = ["tab:green" if "lsemish" in r["name"] else "tab:blue" for r in rows]
    ax.barh(names, [r["ms"] for r in rows], color=colors,
            xerr=[[r["ms"] - r["p20"] for r in rows], [r["p80"] - r["ms"] for r in rows]])
    ax.invert_yaxis()
    ax.set_xlabel("forward + backward, ms (median, cold L2)")
    for i, r in enumerate(rows):
        ax.text(r["ms"] * 1.02, i, f"{r['ms']:.2f} ({r['x_eager_tf32']:.2f}× eager tf32)", va="center", fontsize=8)
    ax.set_xlim(0, max(r["ms"] for r in rows) * 1.45)
    mem.barh(names, [r["peak_extra_mib"] for r in rows], color=colors)
    mem.axvline(rows[0]["grads_mib"], color="gray", linestyle=":", label="the gradients themselves")
    mem.set_xlabel("peak MiB above the inputs")
    mem.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{first[0]}×{first[1]}×{first[2]} forward + backward on {result['device']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


