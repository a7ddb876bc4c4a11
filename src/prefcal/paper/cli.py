"""``prefcal paper ...``: merge the stages' macro files, draw the workflow DAG, build the PDF.

The workflow calls it as ``python -m prefcal.paper ...`` (see :mod:`prefcal.paper.__main__`), which
works whether or not ``prefcal.paper.cli`` is listed in :data:`prefcal.cli.SUBCOMMAND_MODULES`.
"""

from __future__ import annotations

import argparse

from prefcal.paper.build import build_pdf, prepare_build_dir
from prefcal.paper.macros import merge_macro_files


def _macros(args: argparse.Namespace) -> int:
    merge_macro_files(args.inputs, args.out)
    print(f"wrote {args.out} from {len(args.inputs)} macro file(s)")
    return 0


def _build(args: argparse.Namespace) -> int:
    build_dir = prepare_build_dir(
        args.build_dir,
        main_tex=args.main,
        bib=args.bib,
        macros=args.macros,
        tables=args.tables,
        figures=args.figures,
    )
    out = build_pdf(build_dir, args.out)
    print(f"wrote {out}")
    return 0


def _dag(args: argparse.Namespace) -> int:
    import json

    from prefcal.paper.dag import snakemake_dag, write_dag_figure

    graph = write_dag_figure(snakemake_dag(json.loads(args.config_json)), args.out)
    jobs = sum(graph.n_jobs.values())
    print(f"wrote {args.out}: {len(graph.n_jobs)} rules, {jobs} jobs, {len(graph.edges)} edges")
    return 0


def add_paper_commands(sub: argparse._SubParsersAction) -> None:
    """Add the ``macros`` and ``build`` commands to ``sub``."""
    macros = sub.add_parser("macros", help="merge the stages' macro files into one")
    macros.add_argument("inputs", nargs="+", help="stage macro files, in order")
    macros.add_argument("--out", required=True, help="merged file (results/paper/macros.tex)")
    macros.set_defaults(func=_macros)

    build = sub.add_parser("build", help="build the paper PDF with latexmk")
    build.add_argument("--main", required=True, help="paper/main.tex")
    build.add_argument("--bib", required=True, help="paper/references.bib")
    build.add_argument("--macros", required=True, help="merged macros (results/paper/macros.tex)")
    build.add_argument("--tables", nargs="*", default=[], help="generated .tex tables")
    build.add_argument("--figures", nargs="*", default=[], help="generated .pdf figures")
    build.add_argument("--build-dir", required=True, help="LaTeX source tree to (re)create")
    build.add_argument("--out", required=True, help="where to copy the PDF")
    build.set_defaults(func=_build)

    dag = sub.add_parser("dag", help="draw the workflow's rule graph (snakemake --dag)")
    dag.add_argument("--config-json", required=True, help="the run's config as JSON")
    dag.add_argument("--out", required=True, help="figure path (.pdf and .png are written)")
    dag.set_defaults(func=_dag)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Register ``prefcal paper {macros,build}``."""
    parser = subparsers.add_parser("paper", help="paper assets: merge macros, build the PDF")
    add_paper_commands(parser.add_subparsers(dest="paper_command", required=True))
