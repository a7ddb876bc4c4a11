# Shared helpers of the rules: shard list, config sections as JSON for the CLI and notebooks.
import json
import threading

SHARDS = [f"{i:03d}" for i in range(config["shards"])]
RESULTS = "results"
# The pinned environment (same pins as requirements.txt), for --use-conda.
ENV = "../../environment.yml"


def config_json(*sections):
    """The config (or some top-level sections of it) as JSON, passed to the CLI and notebooks.

    Passing it as a param makes Snakemake rerun a rule when its part of the config changes.
    """
    keep = sections or tuple(config)
    return json.dumps({k: config[k] for k in config if k in keep}, sort_keys=True)


def count_donors(manifest_path):
    """Participants listed in a donations folder's manifest.json (``prefcal donation add``)."""
    with open(manifest_path, encoding="utf-8") as f:
        return len(json.load(f).get("participants") or {})


def notebook_cmd(notebook, name):
    """papermill + nbconvert for one stage: executed copy and HTML go to results/notebooks/."""
    return (
        "export IPYTHONDIR=$(mktemp -d) MPLBACKEND=Agg; "
        f"papermill {notebook} {RESULTS}/notebooks/{name}.ipynb -k python3 --cwd . "
        "-p config_json {params.cfg:q} -p out_dir {params.out_dir} {params.extra} "
        "> {log} 2>&1 && "
        f"jupyter nbconvert --to html {RESULTS}/notebooks/{name}.ipynb "
        f"--output-dir {RESULTS}/notebooks >> {{log}} 2>&1"
    )


def cancel_scheduler_timers():
    """Cancel the re-evaluation timers Snakemake's scheduler leaves behind when the run is over.

    The scheduler arms one ``threading.Timer`` per loop iteration, for the ``timespan`` of
    ``max-jobs-per-timespan`` (60 s in profiles/default, see there), and Python waits for every
    pending timer before it exits. Called from ``onsuccess``/``onerror``, after the last job.
    """
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()
