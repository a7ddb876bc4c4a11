# The paper: merge every stage's macros, then build results/paper/paper.pdf with latexmk.
# Without LaTeX (or with paper.build_pdf: false) the workflow still makes every other output and
# says once, at start, how to get the PDF (PAPER_SKIP_REASON, printed by the Snakefile's onstart).
#
# Stages register their paper inputs by extending these lists in their own .smk file, which the
# Snakefile includes after this one; the rules below read the lists through input functions, so
# they see every stage's entries.
import glob
import shutil

MACRO_FILES = [f"{RESULTS}/paper/macros/01_data.tex"]
PAPER_TABLES = [f"{RESULTS}/tables/data_overview.tex"]
PAPER_FIGURES = [
    f"{RESULTS}/figures/podcast_share_by_hour.pdf",
    f"{RESULTS}/figures/workflow_dag.pdf",
]
LATEX_INSTALL = (
    "sudo apt-get install texlive-latex-base texlive-latex-recommended "
    "texlive-fonts-recommended latexmk"
)


# One line saying why results/paper/paper.pdf is not built, or None when it is.
if config["data"]["source"] == "donations":
    PAPER_SKIP_REASON = (
        "prefcal: data.source is donations, so stages 04-05 and the paper are not run: they need "
        "the simulated Home surface and its truth, which donated exports do not have. This run "
        "builds stages 01-03 for your participants (results/tables, results/figures, "
        "results/notebooks); the paper comes from a simulated study (`make reproduce`)"
    )
elif not config["paper"]["build_pdf"]:
    PAPER_SKIP_REASON = (
        "prefcal: paper.build_pdf is false, so results/paper/paper.pdf is not built "
        f"(set it to true; LaTeX: {LATEX_INSTALL})"
    )
elif not all(shutil.which(tool) for tool in ("latexmk", "pdflatex")):
    PAPER_SKIP_REASON = (
        "prefcal: latexmk not found, so results/paper/paper.pdf is not built; "
        f"install LaTeX with: {LATEX_INSTALL}"
    )
else:
    PAPER_SKIP_REASON = None

# What `rule all` asks for: the PDF, or without LaTeX everything it is made from. A lambda (not a
# def: snakemake --lint wants functions in common.smk) called by `rule all` after every stage's
# .smk has extended the lists.
final_targets = lambda: (
    [f"{RESULTS}/paper/paper.pdf"]
    if PAPER_SKIP_REASON is None
    else [f"{RESULTS}/paper/macros.tex", *PAPER_TABLES, *PAPER_FIGURES]
)


rule macros:
    input:
        lambda wildcards: MACRO_FILES,
    output:
        f"{RESULTS}/paper/macros.tex",
    log:
        f"{RESULTS}/logs/paper/macros.log",
    benchmark:
        f"{RESULTS}/benchmarks/paper/macros.tsv"
    conda:
        ENV
    shell:
        "python -m prefcal.paper macros {input:q} --out {output:q} > {log} 2>&1"


# The workflow DAG figure: Snakemake's job graph of a full run with this config, collapsed to rules.
rule workflow_dag:
    input:
        "Snakefile",
        sorted(glob.glob("workflow/rules/*.smk")),
    output:
        pdf=f"{RESULTS}/figures/workflow_dag.pdf",
        png=report(
            f"{RESULTS}/figures/workflow_dag.png",
            caption="../report/workflow_dag.rst",
            category="00 Workflow",
        ),
    log:
        f"{RESULTS}/logs/paper/workflow_dag.log",
    benchmark:
        f"{RESULTS}/benchmarks/paper/workflow_dag.tsv"
    conda:
        ENV
    params:
        cfg=config_json(),
    shell:
        "python -m prefcal.paper dag --config-json {params.cfg:q} --out {output.pdf:q} > {log} 2>&1"


rule paper:
    input:
        main="paper/main.tex",
        bib="paper/references.bib",
        macros=rules.macros.output[0],
        tables=lambda wildcards: PAPER_TABLES,
        figures=lambda wildcards: PAPER_FIGURES,
    output:
        pdf=f"{RESULTS}/paper/paper.pdf",
        build=directory(f"{RESULTS}/paper/build"),
    log:
        f"{RESULTS}/logs/paper/paper.log",
    benchmark:
        f"{RESULTS}/benchmarks/paper/paper.tsv"
    conda:
        ENV
    shell:
        "python -m prefcal.paper build --main {input.main:q} --bib {input.bib:q}"
        " --macros {input.macros:q} --tables {input.tables:q} --figures {input.figures:q}"
        " --build-dir {output.build:q} --out {output.pdf:q} > {log} 2>&1"
