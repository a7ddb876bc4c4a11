# Stage 02: playlist clusters and item taste types (notebooks/02_playlist_clusters.ipynb; the
# logic is in src/prefcal/clustering; the per-shard summaries it combines are made by the rule
# playlist_summary below). On simulated data the notebook also measures the agreement
# with the simulator's true genres (it alone reads results/truth/); with donated data
# (data.source: donations) there is no truth and the agreement table is left empty.

CLUSTER_TRUTH = (
    []
    if DONATIONS_DIR
    else [
        f"{RESULTS}/truth/catalogue",
        *expand(f"{RESULTS}/truth/users/shard_{{shard}}", shard=SHARDS),
    ]
)


# Per shard: the shard's playlists reduced to compact summaries (playlist x artist counts, item
# and artist incidences as integer codes; prefcal.clustering.shards), so that the notebook never
# holds the study's playlist rows.
rule playlist_summary:
    input:
        playlists=f"{RESULTS}/data/shard_{{shard}}/playlists.parquet",
    output:
        directory(f"{RESULTS}/clusters/shard_{{shard}}"),
    log:
        f"{RESULTS}/logs/playlist_summary/shard_{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/playlist_summary/shard_{{shard}}.tsv"
    conda:
        ENV
    shell:
        "python -m prefcal clustering summarise --playlists {input.playlists}"
        " --out {output} > {log} 2>&1"


rule playlist_clusters:
    input:
        summaries=expand(f"{RESULTS}/clusters/shard_{{shard}}", shard=SHARDS),
        streams=expand(f"{RESULTS}/data/shard_{{shard}}/streams.parquet", shard=SHARDS),
        truth=CLUSTER_TRUTH,
        notebook="notebooks/02_playlist_clusters.ipynb",
    output:
        playlist_clusters=f"{RESULTS}/clusters/playlist_clusters.parquet",
        item_taste=f"{RESULTS}/clusters/item_taste.parquet",
        selection=f"{RESULTS}/tables/cluster_selection.csv",
        selection_tex=f"{RESULTS}/tables/cluster_selection.tex",
        cards=f"{RESULTS}/tables/cluster_cards.csv",
        cards_tex=f"{RESULTS}/tables/cluster_cards.tex",
        agreement=f"{RESULTS}/tables/cluster_truth_agreement.csv",
        agreement_tex=f"{RESULTS}/tables/cluster_truth_agreement.tex",
        fig=report(
            f"{RESULTS}/figures/cluster_diagnostics.png",
            caption="../report/02_cluster_diagnostics.rst",
            category="02 Playlist clusters",
        ),
        fig_pdf=f"{RESULTS}/figures/cluster_diagnostics.pdf",
        macros=f"{RESULTS}/paper/macros/02_clusters.tex",
        notebook=f"{RESULTS}/notebooks/02_playlist_clusters.ipynb",
        html=f"{RESULTS}/notebooks/02_playlist_clusters.html",
    log:
        f"{RESULTS}/logs/02_playlist_clusters.log",
    benchmark:
        f"{RESULTS}/benchmarks/02_playlist_clusters.tsv"
    conda:
        ENV
    params:
        cfg=config_json(),
        out_dir=subpath(output.selection, ancestor=2),
        extra=f"-p data_dir {RESULTS}/data -p summaries_dir {RESULTS}/clusters"
        + ("" if DONATIONS_DIR else f" -p truth_dir {RESULTS}/truth"),
    shell:
        notebook_cmd("{input.notebook}", "02_playlist_clusters")


# Register the paper inputs (paper.smk defines the lists and is included before this file).
MACRO_FILES.append(f"{RESULTS}/paper/macros/02_clusters.tex")
PAPER_TABLES.extend(
    [
        f"{RESULTS}/tables/cluster_selection.tex",
        f"{RESULTS}/tables/cluster_cards.tex",
        f"{RESULTS}/tables/cluster_truth_agreement.tex",
    ]
)
PAPER_FIGURES.append(f"{RESULTS}/figures/cluster_diagnostics.pdf")
