"""Shared test fixtures.

``smoke_run`` runs the whole workflow on ``config/smoke.yaml`` ONCE per test session, in a
temporary copy of the repository, and every workflow test (``test_workflow.py``,
``test_privacy_workflow.py``) reads its outputs: the smoke study is the most expensive thing the
suite does. ``copy_repo`` and ``run_snakemake`` are the helpers for tests that need a run of
their own (another config, a second copy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(
    ".venv", "results", ".snakemake", ".git", "__pycache__", ".pytest_cache", ".hypothesis",
    ".ruff_cache", "*.egg-info",
)  # fmt: skip


def copy_repo(dst: Path) -> Path:
    """A copy of the repository (without results, caches, .venv, .git) at ``dst``."""
    shutil.copytree(REPO, dst, ignore=IGNORE)
    (dst / "results").mkdir(exist_ok=True)
    return dst


def run_snakemake(
    workdir: Path,
    *args: str,
    configfiles: tuple[str, ...] = ("config/smoke.yaml",),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Snakemake with the default profile, 2 cores and ``configfiles`` in ``workdir`` (``env``:
    variables to set on top of this process's environment)."""
    env = {**os.environ, **(env or {})}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    cmd = [
        str(Path(sys.executable).parent / "snakemake"),
        "--profile", "profiles/default",
        "--configfile", *configfiles,
        "--cores", "2",
        *args,
    ]  # fmt: skip
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where Snakefile lives)."""
    return REPO


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The repository copy in which the whole smoke workflow ran (once per session)."""
    work = copy_repo(tmp_path_factory.mktemp("smoke") / "repo")
    out = run_snakemake(work)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return work
