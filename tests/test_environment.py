"""requirements.txt (the pip lock) and environment.yml (for conda users) must pin the same set."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([A-Za-z0-9_.+\-!]+)$")


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        assert m, f"requirements.txt line is not an exact == pin: {line!r}"
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def _environment() -> tuple[list, dict[str, str]]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    pins = {}
    for line in pip:
        m = PIN.match(line.strip())
        assert m, f"environment.yml pip entry is not an exact == pin: {line!r}"
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return deps, pins


def test_requirements_and_environment_pin_the_same_versions():
    req = _requirements()
    deps, env = _environment()
    assert req == env
    assert "python=3.11" in deps and "pip" in deps


def test_core_packages_are_current_majors():
    req = _requirements()
    majors = {name: int(req[name].split(".")[0]) for name in ("snakemake", "pandas", "numpy")}
    assert majors == {"snakemake": 9, "pandas": 3, "numpy": 2}
    assert req["scikit-learn"].startswith("1.9")
    for needed in ("papermill", "seaborn", "pyarrow", "pytest", "ipykernel", "jupyter-client"):
        assert needed in req, needed
