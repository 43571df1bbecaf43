"""bench's report writer (no GPU): the table, the JSON and the fp32 mode's peak against 3 tf32 products."""
import json

from lsemish.bench import write_results


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
