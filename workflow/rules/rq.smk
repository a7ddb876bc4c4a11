# Stage 05: the research question on content type. Snapshot table from the logged Home requests
# (prefcal.rq.snapshots), hypotheses H1-H6 with effect sizes and BH (H6 on the item taste types of
# stage 02), policy attribution and its validation on Home logs served by each known policy and on
# synthetic snapshots, false-positive rate and power of H1 on simulated studies (prefcal.rq).
# rq_snapshots summarises each shard (prefcal.rq.shards); the notebook merges the summaries and
# reads Home logs / streams only for seeded user subsamples (H6, the Home-log validation).

RQ_SHARD_FILES = ["snapshots", "plays", "type_totals"]


rule rq_snapshots:
    input:
        home=expand(
            f"{RESULTS}/home/shard_{{{{shard}}}}/{{name}}.parquet",
            name=["log_requests", "impressions", "participants"],
        ),
        streams=f"{RESULTS}/data/shard_{{shard}}/streams.parquet",
    output:
        **{
            name: f"{RESULTS}/rq/shard_{{shard}}/{name}.parquet"
            for name in RQ_SHARD_FILES
        },
    log:
        f"{RESULTS}/logs/rq_snapshots/shard_{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/rq_snapshots/shard_{{shard}}.tsv"
    conda:
        ENV
    params:
        cfg=config_json("ingest"),
        home_dir=lambda wildcards: f"{RESULTS}/home/shard_{wildcards.shard}",
        out_dir=subpath(output.snapshots, parent=True),
    shell:
        "python -m prefcal rq snapshots --config-json {params.cfg:q} --home {params.home_dir}"
        " --streams {input.streams} --out {params.out_dir} > {log} 2>&1"


rule rq_analysis:
    input:
        summaries=expand(
            f"{RESULTS}/rq/shard_{{shard}}/{{name}}.parquet",
            shard=SHARDS,
            name=RQ_SHARD_FILES,
        ),
        home=expand(
            f"{RESULTS}/home/shard_{{shard}}/{{name}}.parquet",
            shard=SHARDS,
            name=["log_requests", "impressions"],
        ),
        streams=expand(f"{RESULTS}/data/shard_{{shard}}/streams.parquet", shard=SHARDS),
        item_taste=f"{RESULTS}/clusters/item_taste.parquet",
        notebook="notebooks/05_rq_analysis.ipynb",
    output:
        table=f"{RESULTS}/tables/rq_hypotheses.csv",
        table_tex=f"{RESULTS}/tables/rq_hypotheses.tex",
        attribution=f"{RESULTS}/tables/rq_attribution.csv",
        attribution_tex=f"{RESULTS}/tables/rq_attribution.tex",
        confusion=f"{RESULTS}/tables/rq_confusion.csv",
        confusion_tex=f"{RESULTS}/tables/rq_confusion.tex",
        confusion_synthetic=f"{RESULTS}/tables/rq_confusion_synthetic.csv",
        h6=f"{RESULTS}/tables/rq_h6.csv",
        power=f"{RESULTS}/tables/rq_power.csv",
        fig_effects=report(
            f"{RESULTS}/figures/rq_effects.png",
            caption="../report/05_rq_effects.rst",
            category="05 Research question",
        ),
        fig_effects_pdf=f"{RESULTS}/figures/rq_effects.pdf",
        fig_power=report(
            f"{RESULTS}/figures/rq_power.png",
            caption="../report/05_rq_power.rst",
            category="05 Research question",
        ),
        fig_power_pdf=f"{RESULTS}/figures/rq_power.pdf",
        macros=f"{RESULTS}/paper/macros/05_rq.tex",
        notebook=f"{RESULTS}/notebooks/05_rq_analysis.ipynb",
        html=f"{RESULTS}/notebooks/05_rq_analysis.html",
    log:
        f"{RESULTS}/logs/05_rq_analysis.log",
    benchmark:
        f"{RESULTS}/benchmarks/05_rq_analysis.tsv"
    conda:
        ENV
    params:
        cfg=config_json(),
        out_dir=subpath(output.table, ancestor=2),
        extra=(
            f"-p data_dir {RESULTS}/data -p home_dir {RESULTS}/home -p rq_dir {RESULTS}/rq"
            f" -p item_taste {RESULTS}/clusters/item_taste.parquet"
        ),
    shell:
        notebook_cmd("{input.notebook}", "05_rq_analysis")


# Register the paper inputs (paper.smk defines the lists and is included before this file).
MACRO_FILES.append(f"{RESULTS}/paper/macros/05_rq.tex")
PAPER_TABLES.extend(
    [
        f"{RESULTS}/tables/rq_hypotheses.tex",
        f"{RESULTS}/tables/rq_attribution.tex",
        f"{RESULTS}/tables/rq_confusion.tex",
    ]
)
PAPER_FIGURES.extend(
    [f"{RESULTS}/figures/rq_effects.pdf", f"{RESULTS}/figures/rq_power.pdf"]
)
