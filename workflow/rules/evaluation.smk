# Stage 04: the simulated Home surface, its logs, and the offline evaluation of Home policies
# (Tables 1 and 2 analogues, off-policy estimates, the real-data check, "when does CB win?").
# Simulated data only: the environment needs the truth of results/truth/.

HOME_TABLES = ["log_requests", "impressions", "ab_requests", "participants"]
EVAL_TABLES = ["replay", "ab", "ope_users", "ope_policies", "oracle", "counts"]
EVAL_SECTIONS = ("seed", "simulation", "ingest", "home", "evaluation")


rule home_log:
    input:
        catalogue=rules.simulate_catalogue.output,
        truth=rules.simulate_users.output.truth,
        streams=rules.ingest.output.streams,
    output:
        **{
            name: f"{RESULTS}/home/shard_{{shard}}/{name}.parquet"
            for name in HOME_TABLES
        },
    log:
        f"{RESULTS}/logs/home_log/shard_{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/home_log/shard_{{shard}}.tsv"
    conda:
        ENV
    params:
        cfg=config_json("seed", "simulation", "ingest", "home"),
        out_dir=subpath(output.log_requests, parent=True),
    shell:
        "python -m prefcal home log --config-json {params.cfg:q} --catalogue {input.catalogue}"
        " --truth-users {input.truth} --streams {input.streams} --out {params.out_dir}"
        " > {log} 2>&1"


rule home_sensitivity:
    input:
        catalogue=rules.simulate_catalogue.output,
        truth=expand(f"{RESULTS}/truth/users/shard_{{shard}}", shard=SHARDS),
        streams=expand(f"{RESULTS}/data/shard_{{shard}}/streams.parquet", shard=SHARDS),
    output:
        parquet=f"{RESULTS}/evaluation/sensitivity.parquet",
        csv=f"{RESULTS}/evaluation/sensitivity.csv",
    log:
        f"{RESULTS}/logs/home_sensitivity.log",
    benchmark:
        f"{RESULTS}/benchmarks/home_sensitivity.tsv"
    conda:
        ENV
    params:
        cfg=config_json(*EVAL_SECTIONS),
    shell:
        "python -m prefcal home sensitivity --config-json {params.cfg:q} --catalogue {input.catalogue}"
        " --truth-users {input.truth} --streams {input.streams} --out {output.parquet}"
        " > {log} 2>&1"


# Stage 04 shard by shard (prefcal.evaluation.shards): one fit on the training requests of at most
# evaluation.fit_max_users users, then every shard's replay, A/B and OPE sums, combined by the
# notebook; no job holds more than a shard's (or the fit sample's) requests.
rule home_fit:
    input:
        catalogue=rules.simulate_catalogue.output,
        truth=expand(f"{RESULTS}/truth/users/shard_{{shard}}", shard=SHARDS),
        home=expand(
            f"{RESULTS}/home/shard_{{shard}}/{{name}}.parquet",
            shard=SHARDS,
            name=HOME_TABLES,
        ),
    output:
        f"{RESULTS}/evaluation/fitted.pkl",
    log:
        f"{RESULTS}/logs/home_fit.log",
    benchmark:
        f"{RESULTS}/benchmarks/home_fit.tsv"
    conda:
        ENV
    params:
        cfg=config_json(*EVAL_SECTIONS),
        home=expand(f"{RESULTS}/home/shard_{{shard}}", shard=SHARDS),
    shell:
        "python -m prefcal home fit --config-json {params.cfg:q} --catalogue {input.catalogue}"
        " --truth-users {input.truth} --home {params.home} --out {output} > {log} 2>&1"


rule home_evaluate:
    input:
        **{
            f"home_{name}": f"{RESULTS}/home/shard_{{shard}}/{name}.parquet"
            for name in HOME_TABLES
        },
        catalogue=rules.simulate_catalogue.output,
        truth=f"{RESULTS}/truth/users/shard_{{shard}}",
        fitted=rules.home_fit.output,
    output:
        **{
            name: f"{RESULTS}/evaluation/shard_{{shard}}/{name}.parquet"
            for name in EVAL_TABLES
        },
    log:
        f"{RESULTS}/logs/home_evaluate/shard_{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/home_evaluate/shard_{{shard}}.tsv"
    conda:
        ENV
    params:
        cfg=config_json(*EVAL_SECTIONS),
        home=subpath(input.home_log_requests, parent=True),
        out_dir=subpath(output.replay, parent=True),
    shell:
        "python -m prefcal home evaluate --config-json {params.cfg:q}"
        " --catalogue {input.catalogue} --truth-users {input.truth} --home {params.home}"
        " --fitted {input.fitted} --out {params.out_dir} > {log} 2>&1"


rule offline_evaluation:
    input:
        evaluation=expand(
            f"{RESULTS}/evaluation/shard_{{shard}}/{{name}}.parquet",
            shard=SHARDS,
            name=EVAL_TABLES,
        ),
        fitted=rules.home_fit.output,
        sensitivity=rules.home_sensitivity.output.parquet,
        notebook="notebooks/04_offline_evaluation.ipynb",
    output:
        table1=f"{RESULTS}/tables/table1_offline_accuracy.csv",
        table1_tex=f"{RESULTS}/tables/table1_offline_accuracy.tex",
        accuracy=f"{RESULTS}/tables/replay_accuracy.csv",
        table2=f"{RESULTS}/tables/table2_ab_test.csv",
        table2_tex=f"{RESULTS}/tables/table2_ab_test.tex",
        ope=f"{RESULTS}/tables/ope_estimates.csv",
        ope_tex=f"{RESULTS}/tables/ope_estimates.tex",
        obd=f"{RESULTS}/tables/obd_check.csv",
        obd_tex=f"{RESULTS}/tables/obd_check.tex",
        ceiling=f"{RESULTS}/tables/cb_oracle_ceiling.csv",
        intent_bands=f"{RESULTS}/tables/podcast_accuracy_by_intent.csv",
        fig_intent=report(
            f"{RESULTS}/figures/podcast_by_intent.png",
            caption="../report/podcast_by_intent.rst",
            category="04 Offline evaluation",
        ),
        fig_intent_pdf=f"{RESULTS}/figures/podcast_by_intent.pdf",
        fig_sensitivity=report(
            f"{RESULTS}/figures/cb_sensitivity.png",
            caption="../report/cb_sensitivity.rst",
            category="04 Offline evaluation",
        ),
        fig_sensitivity_pdf=f"{RESULTS}/figures/cb_sensitivity.pdf",
        fig_ope=report(
            f"{RESULTS}/figures/ope_error.png",
            caption="../report/ope_error.rst",
            category="04 Offline evaluation",
        ),
        fig_ope_pdf=f"{RESULTS}/figures/ope_error.pdf",
        macros=f"{RESULTS}/paper/macros/04_evaluation.tex",
        notebook=f"{RESULTS}/notebooks/04_offline_evaluation.ipynb",
        html=f"{RESULTS}/notebooks/04_offline_evaluation.html",
    log:
        f"{RESULTS}/logs/04_offline_evaluation.log",
    benchmark:
        f"{RESULTS}/benchmarks/04_offline_evaluation.tsv"
    conda:
        ENV
    params:
        cfg=config_json(),
        out_dir=subpath(output.table1, ancestor=2),
        extra=(
            f"-p evaluation_dir {RESULTS}/evaluation"
            f" -p sensitivity_path {RESULTS}/evaluation/sensitivity.parquet"
        ),
    shell:
        notebook_cmd("{input.notebook}", "04_offline_evaluation")


# Register the paper inputs (paper.smk defines the lists and is included before this file).
MACRO_FILES.append(f"{RESULTS}/paper/macros/04_evaluation.tex")
PAPER_TABLES.extend(
    [
        f"{RESULTS}/tables/table1_offline_accuracy.tex",
        f"{RESULTS}/tables/table2_ab_test.tex",
        f"{RESULTS}/tables/ope_estimates.tex",
        f"{RESULTS}/tables/obd_check.tex",
    ]
)
PAPER_FIGURES.extend(
    [
        f"{RESULTS}/figures/cb_sensitivity.pdf",
        f"{RESULTS}/figures/podcast_by_intent.pdf",
        f"{RESULTS}/figures/ope_error.pdf",
    ]
)
