"""House style is checked in CI: ruff, snakefmt --check and snakemake --lint must be clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)


def test_ruff_check_and_format():
    out = _run(str(BIN / "ruff"), "check", "src", "tests", "bench")
    assert out.returncode == 0, out.stdout[-3000:]
    out = _run(str(BIN / "ruff"), "format", "--check", "src", "tests", "bench")
    assert out.returncode == 0, out.stdout[-3000:]


def test_snakefmt_check():
    out = _run(str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules")
    assert out.returncode == 0, out.stderr[-3000:]


def test_snakemake_lint_is_clean():
    out = _run(str(BIN / "snakemake"), "--lint", "--configfile", "config/smoke.yaml")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Lints for" not in out.stdout + out.stderr


def test_notebooks_are_stripped():
    import json

    for nb_path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), nb_path
        tags = [t for c in code for t in c.get("metadata", {}).get("tags", [])]
        assert "parameters" in tags, f"{nb_path.name} has no parameters-tagged cell"
