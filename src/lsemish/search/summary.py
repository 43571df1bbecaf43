"""The loop's summary: summary.md (a row per candidate, whole reasons wrapped at word boundaries, the best so far),
summary.json (the state), best.py, and summary.png (per-call latency of every candidate by round with the best-so-far
curve; without a GPU, pass/fail by round)."""
from __future__ import annotations

import importlib.util
import json
import os
import textwrap

from .files import write_whole
from .strategies import better, passed


def _wrap(text, width=100):
    return "<br>".join(textwrap.wrap(text.replace("|", "/"), width, break_long_words=False)) or "—"


def status_line(rec):
    """A candidate's status, with why the next prompt has no metrics of it where its profile gave none, and whose
    evaluation it has where its code repeats an earlier candidate's."""
    return rec["status"] + (f" (no metrics: profile {rec['profile']})" if rec.get("profile") else "") + \
        (f" (same code as {rec['same_as']})" if rec.get("same_as") else "")


def write_summary(state, out, timed, note=None, log=print):
    rows = ["| round | candidate | parent | stage | status | check | per-call ms | × eager (per call) | best so far |",
            "|---|---|---|---|---|---|---|---|---|"]
    best_so_far = None
    for rec in sorted(state["candidates"], key=lambda r: r["order"]):
        if better(rec, best_so_far, timed):
            best_so_far = rec
        ms = f"{rec['call_ms']:.4f}" if rec.get("call_ms") else "—"
        x = f"{rec['speedup_vs_eager']:.2f}" if rec.get("speedup_vs_eager") else "—"
        rows.append(f"| {rec['round']} | {rec['id']} | {rec.get('parent') or '—'} | {rec.get('stage', '—')} | "
                    f"{_wrap(status_line(rec))} | {rec.get('check', '—')} | {ms} | {x} | "
                    f"{best_so_far['id'] if best_so_far else '—'} |")
    best = state.get("best")
    best_rec = next((r for r in state["candidates"] if r["id"] == best), None)
    head = [f"Problem: {state['problem'] or 'KernelBench level 2, problem 22'}; agent: `{state['agent']}`; strategy "
            f"{state['strategy']}, {state['samples']} sample(s) per parent"
            + (f", beam {state['beam']}" if state["strategy"] == "beam" else ""),
            "timings: KernelBench's per-call latency on this GPU, verified" if timed else
            "no GPU: untimed; the newest new code that passed lint and check is kept"]
    if note:
        head.append(f"note: {note}")
    if state.get("wall_s"):
        head.append(f"wall time: {' + '.join(f'{w:g} s' for w in state['wall_s'])}")
    tokens = [r.get("tokens") or {} for r in state["candidates"]]
    if any(t.get("prompt") for t in tokens):
        head.append(f"tokens: {sum(t.get('prompt') or 0 for t in tokens)} prompt, "
                    f"{sum(t.get('completion') or 0 for t in tokens)} completion")
    head.append(f"best: {best} ({best_rec['call_ms']:.4f} ms per call)" if best_rec and best_rec.get("call_ms")
                else f"best: {best}" if best else "best: none passed")
    final = state.get("final") or {}
    if best and final.get("id") == best:  # search.loop.final_bench
        ratios = [f"{final[k] / final['call_ms']:.2f}x vs {name}" for k, name in (
            ("eager_call_ms", "eager"), ("compile_call_ms", "torch.compile")) if final.get(k) and final.get("call_ms")]
        head.append("final bench of the best beside eager and torch.compile: " + (
            f"{final['call_ms']:.4f} ms per call, speedup {', '.join(ratios)}" if final.get("status") == "timed"
            else final.get("status", "")))
    text = "\n".join(head + [""] + rows) + "\n"
    write_whole(os.path.join(out, "summary.md"), text)
    write_whole(os.path.join(out, "summary.json"), json.dumps(state, indent=1))
    if best_rec is not None:
        with open(os.path.join(out, best_rec["candidate"])) as src, open(os.path.join(out, "best.py"), "w") as dst:
            dst.write(src.read())
    if importlib.util.find_spec("matplotlib") is None:
        log("loop: matplotlib is not installed, so summary.png was not drawn (pip install matplotlib)")
    else:
        _chart(state, os.path.join(out, "summary.png"), timed)
    return text


def _chart(state, path, timed):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, ScalarFormatter
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    # a start that was not evaluated (the problem's reference as the code to improve) is no candidate that failed
    recs = sorted((r for r in state["candidates"] if r.get("evaluated", True)), key=lambda r: r["order"])
    spread = {}
    for r in recs:  # the candidates of one round side by side, not on top of each other
        spread.setdefault(r["round"], []).append(r["id"])
    at = {cid: rnd + (k - (len(ids) - 1) / 2) * min(0.6 / max(len(ids), 1), 0.12)
          for rnd, ids in spread.items() for k, cid in enumerate(ids)}
    if timed:
        xs = [at[r["id"]] for r in recs if r.get("call_ms")]
        ax.scatter(xs, [r["call_ms"] for r in recs if r.get("call_ms")], color="tab:green", zorder=3,
                   label="passed (per call)")
        failed = [at[r["id"]] for r in recs if not r.get("call_ms")]
        if failed:
            ax.scatter(failed, [max([r["call_ms"] for r in recs if r.get("call_ms")] or [1.0])] * len(failed),
                       marker="x", color="tab:red", label="failed or rejected")
        best, curve = None, []
        for rnd in sorted({r["round"] for r in recs}):
            for r in recs:
                if r["round"] == rnd and better(r, best, True):
                    best = r
            curve.append((rnd, best["call_ms"] if best and best.get("call_ms") else None))
        # a step: the best changes when a round ends, it does not slide between rounds
        ax.plot([c[0] for c in curve if c[1]], [c[1] for c in curve if c[1]], color="black", label="best so far",
                drawstyle="steps-post")
        ax.set_ylabel("per-call ms (KernelBench)")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())  # plain ms, not 3.8 x 10^-1, on a narrow log range
        ax.yaxis.set_minor_formatter(ScalarFormatter())
        ax.legend(fontsize=8)
    else:
        for r in recs:
            ok = passed(r)
            ax.scatter(at[r["id"]], "passed" if ok else "failed", color="tab:green" if ok else "tab:red", zorder=3)
        ax.set_ylabel("lint and check")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round")
    ax.set_title(f"lsemish loop: {state['strategy']}, {state['samples']} sample(s)" + ("" if timed else " (no GPU)"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
