"""Peak memory and wall time of notebook 05 (the RQ analysis), old code vs new, in one run.

Issue #7: the peak of every job must not grow with the users. This script runs the code cells of
``notebooks/05_rq_analysis.ipynb`` as a plain script (papermill's injected parameters taken from a
finished scale run, ``out_dir`` redirected) once with the *old* package + notebook and once with
the *new* ones, one after the other in fresh processes, and prints each run's peak RSS (the
child's ``ru_maxrss`` from ``os.wait4``), wall and CPU seconds and the ratios new / old. The RSS
after every cell is printed by the child as ``## MEM ...`` lines (kept in ``<out>/<label>.log``).

Usage (a study copy with a finished ``results/``, e.g. a ``bench/scale.py`` run; the old code is a
``git worktree`` of the commit to compare with)::

    python bench/rq_memory.py --study /tmp/scale2/users_100000 \\
        --old-src /tmp/base/src --old-notebook /tmp/base/notebooks/05_rq_analysis.ipynb \\
        --new-src src --new-notebook notebooks/05_rq_analysis.ipynb --out /tmp/rq_memory

Nothing is written into ``--study`` (outputs go under ``--out``). ``--only new`` runs one side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

PRELUDE = """import resource, time, gc
_t0 = time.time()
def _rss(tag):
    gc.collect()
    cur = int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'## MEM {tag}: cur {cur:.0f} MB peak {peak:.0f} MB t={time.time() - _t0:.0f}s',
          flush=True)
import matplotlib
matplotlib.use('Agg')
import IPython.display as _d
_d.display = lambda *a, **k: None
"""


def notebook_script(executed: Path, source: Path, out_dir: Path) -> str:
    """The code cells of ``source`` as a script, with the injected-parameters cell of the executed
    notebook ``executed`` placed after the parameters cell and ``out_dir`` replaced."""
    ex = json.loads(executed.read_text())
    injected = [
        c for c in ex["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if not injected:
        raise ValueError(f"{executed}: no papermill injected-parameters cell")
    params = re.sub(r'out_dir = ".*"', f'out_dir = "{out_dir}"', "".join(injected[0]["source"]))
    code = [
        "".join(c["source"])
        for c in json.loads(source.read_text())["cells"]
        if c["cell_type"] == "code"
    ]
    parts = [PRELUDE, code[0], params]
    parts += code[1:]
    out = []
    for i, src in enumerate(parts):
        lines = [ln for ln in src.splitlines() if not ln.startswith("%")]
        out.append("\n".join(lines))
        if i:
            head = (lines[0] if lines else "")[:50]
            out.append(f"_rss({f'after cell {i}: {head}'!r})")
    return "\n".join(out) + "\n"


def run(
    label: str, src: Path, notebook: Path, study: Path, out: Path
) -> tuple[float, float, float]:
    """Run one side; returns (peak MB, wall s, CPU s): the CPU time is the fairer clock on a
    machine shared with other jobs."""
    executed = study / "results" / "notebooks" / "05_rq_analysis.ipynb"
    out_dir = out / f"out_{label}"
    script = out / f"{label}.py"
    script.write_text(notebook_script(executed, notebook, out_dir.resolve()))
    env = dict(os.environ, PYTHONPATH=str(src.resolve()))
    t0 = time.perf_counter()
    with open(out / f"{label}.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(script.resolve())], cwd=study, env=env, stdout=log, stderr=log
        )
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{label} failed: see {out / f'{label}.log'}")
    return usage.ru_maxrss / 1024, wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", type=Path, required=True)
    ap.add_argument("--old-src", type=Path, required=True)
    ap.add_argument("--old-notebook", type=Path, required=True)
    ap.add_argument("--new-src", type=Path, default=Path("src"))
    ap.add_argument("--new-notebook", type=Path, default=Path("notebooks/05_rq_analysis.ipynb"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", choices=("old", "new"), default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sides = {"old": (args.old_src, args.old_notebook), "new": (args.new_src, args.new_notebook)}
    res = {}
    for label, (src, nb) in sides.items():
        if args.only in (None, label):
            res[label] = run(label, src, nb, args.study, args.out)
            peak, wall, cpu = res[label]
            print(f"{label}: peak {peak:.0f} MB, wall {wall:.0f} s, cpu {cpu:.0f} s", flush=True)
    if len(res) == 2:
        print(
            f"new / old: peak {res['new'][0] / res['old'][0]:.2f},"
            f" wall {res['new'][1] / res['old'][1]:.2f}, cpu {res['new'][2] / res['old'][2]:.2f}"
            f" (study {args.study})"
        )


if __name__ == "__main__":
    main()
