# The study, end to end: simulated (or donated) Spotify exports -> paper PDF.
# Run with `make reproduce` (or `snakemake --profile profiles/default`).
from snakemake.utils import min_version, validate


min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/paper.smk"


rule all:
    input:
        rules.paper.output,
    default_target: True
