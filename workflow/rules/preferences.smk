# Stage 03: listening preferences (notebooks/03_preferences.ipynb; the logic is in
# src/prefcal/preferences). On simulated data the notebook also measures how well the context
# profiles recover the true ones, for the study's population and for a population in which
# context plays no role: the users u with u mod s == 0, s = ceil(n_users / 250)
# (prefcal.preferences.stage.context0_stride, so the population does not depend on `shards`),
# simulated again with the settings of prefcal.preferences.stage.NO_CONTEXT (context_strength 0
# and no habitual users), written under
# results/sensitivity/context0/ by the two rules below. With donated data (data.source:
# donations) there is no truth: neither population is validated and the error table is empty.

CONTEXT0 = f"{RESULTS}/sensitivity/context0"
CONTEXT0_STRIDE = max(
    1, -(-config["simulation"]["n_users"] // 250)
)  # keep in step with stage.py
# keep in step with prefcal.preferences.stage.NO_CONTEXT
CONTEXT0_CFG = json.dumps(
    {
        "seed": config["seed"],
        "simulation": {
            **config["simulation"],
            "context_strength": 0.0,
            "habitual_share": 0.0,
        },
    },
    sort_keys=True,
)
PREF_VALIDATION = (
    {}
    if DONATIONS_DIR
    else {
        "truth": expand(f"{RESULTS}/truth/users/shard_{{shard}}", shard=SHARDS),
        "context0_streams": f"{CONTEXT0}/data/shard_000/streams.parquet",
        "context0_truth": f"{CONTEXT0}/truth/users/shard_000",
    }
)


rule simulate_context0:
    input:
        catalogue=rules.simulate_catalogue.output,
    output:
        exports=directory(f"{CONTEXT0}/raw/shard_000"),
        truth=directory(f"{CONTEXT0}/truth/users/shard_000"),
    log:
        f"{RESULTS}/logs/simulate_context0.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulate_context0.tsv"
    conda:
        ENV
    params:
        cfg=CONTEXT0_CFG,
        n_shards=CONTEXT0_STRIDE,
    shell:
        "python -m prefcal simulate users --config-json {params.cfg:q} --catalogue {input.catalogue}"
        " --shard 000 --n-shards {params.n_shards}"
        " --out {output.exports} --truth {output.truth} > {log} 2>&1"


rule ingest_context0:
    input:
        exports=rules.simulate_context0.output.exports,
    output:
        streams=f"{CONTEXT0}/data/shard_000/streams.parquet",
        playlists=f"{CONTEXT0}/data/shard_000/playlists.parquet",
        library=f"{CONTEXT0}/data/shard_000/library.parquet",
        report=f"{CONTEXT0}/data/shard_000/ingest_report.json",
    log:
        f"{RESULTS}/logs/ingest_context0.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_context0.tsv"
    conda:
        ENV
    params:
        seed=config["seed"],
        out_dir=subpath(output.streams, parent=True),
    shell:
        "python -m prefcal ingest --each {input.exports} --out {params.out_dir}"
        " --id-seed {params.seed} > {log} 2>&1"


# Once: t_eval, the UTC midnight after the end of the last play of all shards on the client's
# clock (offline plays are logged when the client syncs, days later; see
# prefcal.preferences.stage.evaluation_time), with the last logged ts_end and the number of
# streams logged at or after t_eval. Reads four columns of every shard, a batch of rows at a time.
rule evaluation_time:
    input:
        streams=expand(f"{RESULTS}/data/shard_{{shard}}/streams.parquet", shard=SHARDS),
    output:
        f"{RESULTS}/preferences/t_eval.json",
    log:
        f"{RESULTS}/logs/evaluation_time.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluation_time.tsv"
    conda:
        ENV
    params:
        time_column=config["preferences"]["time_column"],
    shell:
        "python -m prefcal preferences evaluation-time --streams {input.streams}"
        " --time-column {params.time_column} --out {output} > {log} 2>&1"


# Per shard: the per-user summaries (window features, descriptors, context counts) at t_eval;
# the notebook combines them, so no job holds more than one shard's streams.
rule preference_features:
    input:
        streams=f"{RESULTS}/data/shard_{{shard}}/streams.parquet",
        t_eval=rules.evaluation_time.output[0],
        item_taste=f"{RESULTS}/clusters/item_taste.parquet",
    output:
        directory(f"{RESULTS}/preferences/shard_{{shard}}"),
    log:
        f"{RESULTS}/logs/preference_features/shard_{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/preference_features/shard_{{shard}}.tsv"
    conda:
        ENV
    params:
        cfg=config_json("preferences", "analysis", "ingest"),
    shell:
        "python -m prefcal preferences features --config-json {params.cfg:q}"
        " --streams {input.streams} --t-eval {input.t_eval}"
        " --item-taste {input.item_taste} --out {output} > {log} 2>&1"


rule preferences:
    input:
        **PREF_VALIDATION,
        streams=expand(f"{RESULTS}/data/shard_{{shard}}/streams.parquet", shard=SHARDS),
        features=expand(f"{RESULTS}/preferences/shard_{{shard}}", shard=SHARDS),
        t_eval=rules.evaluation_time.output[0],
        item_taste=rules.playlist_clusters.output.item_taste,
        notebook="notebooks/03_preferences.ipynb",
    output:
        user_windows=f"{RESULTS}/preferences/user_windows.parquet",
        descriptors=f"{RESULTS}/preferences/descriptors.parquet",
        context_profiles=f"{RESULTS}/preferences/context_profiles.parquet",
        user_profiles=f"{RESULTS}/preferences/user_profiles.parquet",
        error=f"{RESULTS}/tables/profile_error.csv",
        error_tex=f"{RESULTS}/tables/profile_error.tex",
        fig_heatmap=report(
            f"{RESULTS}/figures/preference_heatmap.png",
            caption="../report/03_preference_heatmap.rst",
            category="03 Preferences",
        ),
        fig_heatmap_pdf=f"{RESULTS}/figures/preference_heatmap.pdf",
        fig_hourly=report(
            f"{RESULTS}/figures/hourly_profiles.png",
            caption="../report/03_hourly_profiles.rst",
            category="03 Preferences",
        ),
        fig_hourly_pdf=f"{RESULTS}/figures/hourly_profiles.pdf",
        fig_habit=report(
            f"{RESULTS}/figures/habit_pattern.png",
            caption="../report/03_habit_pattern.rst",
            category="03 Preferences",
        ),
        fig_habit_pdf=f"{RESULTS}/figures/habit_pattern.pdf",
        fig_error=report(
            f"{RESULTS}/figures/profile_error.png",
            caption="../report/03_profile_error.rst",
            category="03 Preferences",
        ),
        fig_error_pdf=f"{RESULTS}/figures/profile_error.pdf",
        macros=f"{RESULTS}/paper/macros/03_preferences.tex",
        notebook=f"{RESULTS}/notebooks/03_preferences.ipynb",
        html=f"{RESULTS}/notebooks/03_preferences.html",
    log:
        f"{RESULTS}/logs/03_preferences.log",
    benchmark:
        f"{RESULTS}/benchmarks/03_preferences.tsv"
    conda:
        ENV
    params:
        cfg=config_json(),
        out_dir=subpath(output.error, ancestor=2),
        extra=(
            f"-p data_dir {RESULTS}/data"
            f" -p clusters_dir {RESULTS}/clusters"
            f" -p features_dir {RESULTS}/preferences"
            f" -p t_eval_json {RESULTS}/preferences/t_eval.json"
            + (
                ""
                if DONATIONS_DIR
                else f" -p truth_dir {RESULTS}/truth -p context0_dir {CONTEXT0}"
            )
        ),
    shell:
        notebook_cmd("{input.notebook}", "03_preferences")


# Register the paper inputs (paper.smk defines the lists and is included before this file).
MACRO_FILES.append(f"{RESULTS}/paper/macros/03_preferences.tex")
PAPER_TABLES.append(f"{RESULTS}/tables/profile_error.tex")
PAPER_FIGURES.extend(
    [
        f"{RESULTS}/figures/preference_heatmap.pdf",
        f"{RESULTS}/figures/hourly_profiles.pdf",
        f"{RESULTS}/figures/habit_pattern.pdf",
        f"{RESULTS}/figures/profile_error.pdf",
    ]
)
