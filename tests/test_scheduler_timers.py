"""profiles/default re-checks the job rate once a minute, and the workflow cancels the scheduler's
pending timers when it ends (see the comment in profiles/default/config.yaml).

Without the cancel, Python waits for the last timer: a run would end up to 60 s after its last
job. The tiny workflow below takes about 5 s with it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_default_profile_rechecks_the_job_rate_once_a_minute() -> None:
    profile = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    m = re.fullmatch(r"(\d+)/(\d+)s", profile["max-jobs-per-timespan"])
    assert m is not None
    count, seconds = int(m.group(1)), int(m.group(2))
    assert seconds == 60
    assert count / seconds >= 100  # at least Snakemake's default rate of 100 jobs a second


def test_snakefile_cancels_the_timers_on_success_and_on_error() -> None:
    text = (REPO / "Snakefile").read_text()
    for handler in ("onsuccess", "onerror"):
        body = re.search(rf"^{handler}:\n((?:    .*\n)+)", text, flags=re.M)
        assert body is not None, handler
        assert "cancel_scheduler_timers()" in body.group(1), handler


def test_a_run_ends_with_its_last_job(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles/default", tmp_path / "profiles/default")
    (tmp_path / "Snakefile").write_text(
        'config["shards"] = 1\n'
        f'include: "{REPO / "workflow/rules/common.smk"}"\n\n'
        "onsuccess:\n    cancel_scheduler_timers()\n\n"
        "rule all:\n    input: expand('out{i}.txt', i=range(4))\n\n"
        "rule one:\n    output: 'out{i}.txt'\n"
        "    shell: 'sleep 0.5; echo {wildcards.i} > {output}'\n"
    )
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    start = time.monotonic()
    run = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "--profile", "profiles/default",
         "--cores", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    wall = time.monotonic() - start
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.glob("out*.txt")) == [f"out{i}.txt" for i in range(4)]
    assert wall < 40, f"snakemake took {wall:.0f} s: it waited for its pending timers"
