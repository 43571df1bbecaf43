"""Every shipped config compiles without a GPU: fits sm_89's 99 KB and uses tensor cores; sm_90 uses wgmma."""
import json
import os
import subprocess
import sys

import pytest

from lsemish.compile_report import SMEM_LIMIT


@pytest.fixture(scope="module")
def report():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, "-m", "lsemish.compile_report"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    for row in rows:
        print(f"sm_{row['arch']} {row['mode']:12s} {row['config']}: shared {row['shared']} B "
              f"(limit {row['limit']}), {row['tensor_core_ops']} {row['ptx_mma_kind']} ops in PTX")
    return rows


def test_every_config_reported(report):
    assert {(r["arch"], r["mode"]) for r in report} == {(a, m) for a in (89, 90)
                                                        for m in ("tf32", "fp32", "bf16", "native-bf16")}


def test_configs_fit_and_use_tensor_cores(report):
    for r in report:
        assert r["shared"] <= SMEM_LIMIT[r["arch"]], r
        assert r["ptx_mma_kind"] == ("wgmma" if r["arch"] == 90 else "mma.sync"), r
        assert r["tensor_core_ops"] > 0, r


def test_the_4090_limit_is_99_kb():
    assert SMEM_LIMIT[89] == 99 * 1024
