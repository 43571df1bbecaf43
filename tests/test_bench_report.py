"""bench's report writer (no GPU): the table, the JSON and the fp32 mode's peak against 3 tf32 products."""
import json

from lsemish.report.bench import write_results


def _row(name, ms, kind, work=1, rel=None, ok=None):
    return {"name": name, "M": 4, "K": 8, "N": 16, "ms": ms, "p20": ms, "p80": ms, "tflops": 100.0 / ms,
            "peak_kind": kind, "peak_work": work, "pct_peak": 25.0 * work, "x_cublas_tf32": ms / 0.5,
            "rel_l2_vs_fp64": rel, "passes_kernelbench": ok}


def test_table_and_json(tmp_path):
    result = {"device": "dev", "torch": "t", "triton": "tr", "date": "2026-11-24", "command": "bench",
              "peaks_tflops": {"tf32": 400.0}, "rows": [_row("cublas-tf32", 0.5, "tf32"),
                                                        _row("lsemish-fp32", 1.5, "tf32", 3, 8e-8, True)]}
    text = write_results(result, str(tmp_path))
    assert "| lsemish-fp32 | 4×8×16 | 1.5000 |" in text and "75% (3×tf32)" in text and "| pass |" in text
    assert "25% (tf32)" in text and "| — | — |" in text
    assert json.loads((tmp_path / "bench.json").read_text())["rows"][1]["peak_work"] == 3
    assert (tmp_path / "bench.md").read_text().startswith("Device: dev")


def test_backward_table_and_chart(tmp_path):
    back = [{"name": n, "M": 4, "K": 8, "N": 16, "ms": ms, "p20": ms, "p80": ms, "tflops": 1.0, "first_call_s": 0.5,
             "peak_extra_mib": mib, "grads_mib": 288.0, "x_eager_tf32": ms / 1.7}
            for n, ms, mib in (("lsemish-tf32 fwd+bwd", 1.6, 353.0), ("eager-tf32 fwd+bwd", 1.7, 384.0))]
    back.append({"name": "compiled lsemish-tf32 fwd+bwd", "error": "RuntimeError('boom')"})
    result = {"device": "dev", "torch": "t", "triton": "tr", "date": "2026-11-24", "command": "bench --backward",
              "peaks_tflops": {"tf32": 400.0}, "rows": [_row("cublas-tf32", 0.5, "tf32")], "backward_rows": back}
    text = write_results(result, str(tmp_path))
    assert "| lsemish-tf32 fwd+bwd | 4×8×16 | 1.6000 |" in text and "| 0.94 | 353 | 0.5 |" in text
    assert "| compiled lsemish-tf32 fwd+bwd | failed: RuntimeError('boom')" in text
    assert (tmp_path / "bench-backward.png").stat().st_size > 0


def test_without_matplotlib_the_results_are_still_written(tmp_path, monkeypatch, capsys):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    result = {"device": "dev", "torch": "t", "triton": "tr", "date": "2026-11-24", "command": "bench",
              "peaks_tflops": {"tf32": 400.0}, "rows": [_row("cublas-tf32", 0.5, "tf32")]}
    write_results(result, str(tmp_path))
    assert (tmp_path / "bench.json").exists() and (tmp_path / "bench.md").exists()
    assert not (tmp_path / "bench.png").exists()
    assert "matplotlib is not installed" in capsys.readouterr().err
