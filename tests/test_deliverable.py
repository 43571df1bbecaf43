"""The single-file deliverable: emitted as-is, lints clean, self-contained."""
import subprocess
import sys

from lsemish import deliverable_source
from lsemish.lint import lint_source


def test_emit_prints_the_deliverable():
    out = subprocess.run([sys.executable, "-m", "lsemish", "emit"], capture_output=True, text=True, check=True)
    assert out.stdout == deliverable_source()


def test_deliverable_lints_clean():
    errors = [f for f in lint_source(deliverable_source()) if f.severity == "error"]
    assert errors == []


def test_deliverable_is_self_contained_and_is_the_package_class(tmp_path):
    import lsemish
    from lsemish import model_new
    path = tmp_path / "candidate.py"
    path.write_text(deliverable_source())
    ns = {"__name__": "candidate"}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    assert "ModelNew" in ns and "get_inputs" not in ns
    assert lsemish.ModelNew is model_new.ModelNew
