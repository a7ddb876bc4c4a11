# Stage 01: simulated population -> export files -> canonical tables -> data overview.
#
# data.source: donations reads a donations folder made with `prefcal donation add`
# (data.donations_dir) instead: rule ingest then writes each shard's canonical tables from the
# donated participants whose study id falls in the shard (`prefcal donation shard`; it reads
# manifest.json and participants/, never private/), and nothing is simulated for stage 01.
import os

from snakemake.exceptions import WorkflowError

DONATIONS_DIR = None
if config["data"]["source"] == "donations":
    DONATIONS_DIR = os.path.expanduser(str(config["data"].get("donations_dir") or ""))
    if not os.path.isfile(os.path.join(DONATIONS_DIR or ".", "manifest.json")):
        raise WorkflowError(
            f"config key data.donations_dir: {DONATIONS_DIR or '(not set)'} is not a donations "
            "folder (no manifest.json); make one with "
            "`prefcal donation add EXPORT --donations DIR`"
        )
    # Every output aggregates participants, the smallest groups being the data overview's three
    # tercile cohorts (prefcal.overview.COHORTS): each must hold at least k participants.
    N_DONORS = count_donors(os.path.join(DONATIONS_DIR, "manifest.json"))
    K_ANON = config["privacy"]["k_anonymity"]
    if N_DONORS < 3 * K_ANON:
        raise WorkflowError(
            f"the donations folder {DONATIONS_DIR} holds {N_DONORS} participant(s), fewer than "
            f"3 x privacy.k_anonymity = {3 * K_ANON}: the data overview's three cohorts would "
            f"hold fewer than {K_ANON} participants each, and its curves and numbers would "
            "describe single participants. Add donations"
            + (
                ", or, for a trial run whose outputs you keep to yourself, set "
                f"privacy.k_anonymity to at most {N_DONORS // 3} in your config"
                if N_DONORS >= 3
                else " (three cohorts need at least three donors)"
            )
        )


rule simulate_catalogue:
    output:
        directory(f"{RESULTS}/truth/catalogue"),
    log:
        f"{RESULTS}/logs/simulate_catalogue.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulate_catalogue.tsv"
    conda:
        ENV
    params:
        cfg=config_json("seed", "simulation"),
    shell:
        "python -m prefcal simulate catalogue --config-json {params.cfg:q} --out {output} > {log} 2>&1"


rule simulate_users:
    input:
        catalogue=rules.simulate_catalogue.output,
    output:
        exports=directory(f"{RESULTS}/raw/shard_{{shard}}"),
        truth=directory(f"{RESULTS}/truth/users/shard_{{shard}}"),
    log:
        f"{RESULTS}/logs/simulate_users/shard_{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulate_users/shard_{{shard}}.tsv"
    conda:
        ENV
    params:
        cfg=config_json("seed", "simulation"),
        n_shards=config["shards"],
    shell:
        "python -m prefcal simulate users --config-json {params.cfg:q} --catalogue {input.catalogue}"
        " --shard {wildcards.shard} --n-shards {params.n_shards}"
        " --out {output.exports} --truth {output.truth} > {log} 2>&1"


rule ingest:
    input:
        exports=(
            f"{DONATIONS_DIR}/manifest.json"
            if DONATIONS_DIR
            else rules.simulate_users.output.exports
        ),
    output:
        streams=f"{RESULTS}/data/shard_{{shard}}/streams.parquet",
        playlists=f"{RESULTS}/data/shard_{{shard}}/playlists.parquet",
        library=f"{RESULTS}/data/shard_{{shard}}/library.parquet",
        report=f"{RESULTS}/data/shard_{{shard}}/ingest_report.json",
    log:
        f"{RESULTS}/logs/ingest/shard_{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest/shard_{{shard}}.tsv"
    conda:
        ENV
    params:
        seed=config["seed"],
        out_dir=subpath(output.streams, parent=True),
        donations=subpath(input.exports, parent=True),
        n_shards=config["shards"],
    shell:
        (
            "python -m prefcal donation shard --donations {params.donations:q}"
            " --shard {wildcards.shard} --n-shards {params.n_shards} --out {params.out_dir}"
            " > {log} 2>&1"
            if DONATIONS_DIR
            else "python -m prefcal ingest --each {input.exports} --out {params.out_dir}"
            " --id-seed {params.seed} > {log} 2>&1"
        )


rule data_overview:
    input:
        streams=expand(f"{RESULTS}/data/shard_{{shard}}/streams.parquet", shard=SHARDS),
        reports=expand(
            f"{RESULTS}/data/shard_{{shard}}/ingest_report.json", shard=SHARDS
        ),
        notebook="notebooks/01_data.ipynb",
    output:
        table=f"{RESULTS}/tables/data_overview.csv",
        table_tex=f"{RESULTS}/tables/data_overview.tex",
        fig=report(
            f"{RESULTS}/figures/podcast_share_by_hour.png",
            caption="../report/podcast_share_by_hour.rst",
            category="01 Data",
        ),
        fig_pdf=f"{RESULTS}/figures/podcast_share_by_hour.pdf",
        macros=f"{RESULTS}/paper/macros/01_data.tex",
        notebook=f"{RESULTS}/notebooks/01_data.ipynb",
        html=f"{RESULTS}/notebooks/01_data.html",
    log:
        f"{RESULTS}/logs/01_data.log",
    benchmark:
        f"{RESULTS}/benchmarks/01_data.tsv"
    conda:
        ENV
    params:
        cfg=config_json(),
        out_dir=subpath(output.table, ancestor=2),
        extra=f"-p data_dir {RESULTS}/data",
    shell:
        notebook_cmd("{input.notebook}", "01_data")
