# The study, end to end: simulated (or donated) Spotify exports -> paper PDF.
# Run with `make reproduce` (or `snakemake --profile profiles/default`).
import sys

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


# Every job runs in the pinned environment: the .venv of `make reproduce`, or with --use-conda the
# conda environment built from the same pins (each rule's `conda:`). The package is imported from
# src/ either way.
shell.prefix("export PYTHONPATH=$PWD/src${{PYTHONPATH:+:$PYTHONPATH}} MPLBACKEND=Agg; ")


include: "workflow/rules/common.smk"
# paper.smk defines MACRO_FILES, PAPER_TABLES and PAPER_FIGURES, which the stage files extend:
# include it before them.
include: "workflow/rules/paper.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/clustering.smk"
include: "workflow/rules/preferences.smk"


# Stages 04-05 evaluate policies on the simulated Home surface, whose truth donated exports lack.
if config["data"]["source"] == "simulated":

    include: "workflow/rules/evaluation.smk"
    include: "workflow/rules/rq.smk"


onstart:
    if PAPER_SKIP_REASON:
        print(PAPER_SKIP_REASON, file=sys.stderr)


onsuccess:
    cancel_scheduler_timers()


onerror:
    cancel_scheduler_timers()


rule all:
    default_target: True
    input:
        final_targets(),
