"""The hostile candidates of tests/hostile/: each composed onto an honest candidate (its class ModelNew renamed
HonestModel, the hostile class ModelNew after it), with what the evaluator must answer and where it can be shown."""
import os
import re

FOLDER = os.path.join(os.path.dirname(__file__), "hostile")
NAMES = sorted(f[:-3] for f in os.listdir(FOLDER) if f.endswith(".py"))


def header(name, key):
    text = open(os.path.join(FOLDER, f"{name}.py")).read()
    match = re.search(rf"^# {key}: (.*)$", text, re.M)
    return match.group(1).strip()


def expected(name):
    """The substrings of which the verdict's reason must hold one ('pass' for candidates that must pass)."""
    return [part.strip() for part in header(name, "expect").split("|")]


def where(name):
    return header(name, "where").split()


def compose(name, honest_source, path):
    """Write the hostile candidate `name` on top of `honest_source` to `path`; returns str(path)."""
    assert honest_source.count("\nclass ModelNew(") == 1
    hostile = open(os.path.join(FOLDER, f"{name}.py")).read()
    imports = "".join(line + "\n" for line in hostile.splitlines() if line.startswith("import "))
    body = "\n".join(line for line in hostile.splitlines() if not line.startswith("import ")).strip("\n")
    source = honest_source.replace("\nclass ModelNew(", "\nclass HonestModel(")
    if imports:  # the seed's layout: imports first
        source = imports + source
    with open(path, "w") as fh:
        fh.write(source.rstrip("\n") + "\n\n\n" + body + "\n")
    return str(path)
