"""The workflow DAG figure: parsing Snakemake's dot output, collapsing jobs to rules, layers."""

from __future__ import annotations

import pytest

from prefcal.paper.dag import parse_dot, plot_dag, rule_graph, write_dag_figure

DOT = """digraph snakemake_dag {
    graph[bgcolor=white, margin=0];
    node[shape=box, style=rounded, fontname=sans,                 fontsize=10, penwidth=2];
    edge[penwidth=2, color=grey];
\t0[label = "all", color = "0.00 0.6 0.85", style="rounded"];
\t1[label = "paper", color = "0.36 0.6 0.85", style="rounded"];
\t2[label = "ingest\\nshard: 000", color = "0.18 0.6 0.85", style="rounded"];
\t3[label = "ingest\\nshard: 001", color = "0.18 0.6 0.85", style="rounded"];
\t4[label = "simulate_users\\nshard: 000", color = "0.62 0.6 0.85", style="rounded"];
\t5[label = "simulate_users\\nshard: 001", color = "0.62 0.6 0.85", style="rounded"];
\t6[label = "simulate_catalogue", color = "0.53 0.6 0.85", style="rounded"];
\t7[label = "workflow_dag", color = "0.5 0.6 0.85", style="rounded"];
\t1 -> 0
\t2 -> 1
\t3 -> 1
\t4 -> 2
\t5 -> 3
\t6 -> 4
\t6 -> 5
\t7 -> 1
}
"""


def test_jobs_collapse_to_rules_with_their_job_counts():
    nodes, edges = parse_dot(DOT)
    assert len(nodes) == 8 and len(edges) == 8
    assert nodes[2] == "ingest\nshard: 000"
    g = rule_graph(nodes, edges)
    assert g.n_jobs == {
        "all": 1,
        "ingest": 2,
        "paper": 1,
        "simulate_catalogue": 1,
        "simulate_users": 2,
        "workflow_dag": 1,
    }
    assert g.edges == (
        ("ingest", "paper"),
        ("paper", "all"),
        ("simulate_catalogue", "simulate_users"),
        ("simulate_users", "ingest"),
        ("workflow_dag", "paper"),
    )


def test_layers_are_longest_paths_and_sources_sit_above_their_child():
    g = rule_graph(*parse_dot(DOT))
    assert g.layers() == {
        "simulate_catalogue": 0,
        "simulate_users": 1,
        "ingest": 2,
        "workflow_dag": 2,  # a source: one layer above paper (3), not at the top
        "paper": 3,
        "all": 4,
    }


def test_figure_has_a_box_per_rule_and_is_byte_stable(tmp_path):
    g = rule_graph(*parse_dot(DOT))
    fig = plot_dag(g)
    labels = sorted(t.get_text() for t in fig.axes[0].texts if t.get_text())
    assert labels == sorted(
        ["all", "ingest \u00d72", "paper", "simulate_catalogue", "simulate_users \u00d72"]
        + ["workflow_dag"]
    )
    write_dag_figure(DOT, tmp_path / "a" / "dag.pdf")
    write_dag_figure(DOT, tmp_path / "b" / "dag.pdf")
    for suffix in ("pdf", "png"):
        a = (tmp_path / "a" / f"dag.{suffix}").read_bytes()
        assert a == (tmp_path / "b" / f"dag.{suffix}").read_bytes()
        assert len(a) > 1000


def test_bad_dot_is_refused():
    with pytest.raises(ValueError, match="no nodes"):
        parse_dot("digraph x { }")
    with pytest.raises(ValueError, match="undeclared"):
        parse_dot('digraph x {\n\t0[label = "a"];\n\t1 -> 0\n}')
    cyc = 'digraph x {\n\t0[label = "a"];\n\t1[label = "b"];\n\t0 -> 1\n\t1 -> 0\n}'
    with pytest.raises(ValueError, match="cycle"):
        rule_graph(*parse_dot(cyc)).layers()


def test_boxes_of_a_row_do_not_overlap_and_fit_the_figure():
    """A wide row of long names (the default workflow has rows of 6 rules) stays apart."""
    from matplotlib.patches import FancyBboxPatch

    names = [f"a_rather_long_rule_name_{i}" for i in range(6)]
    nodes = "\n".join(f'\t{i + 1}[label = "{n}"];' for i, n in enumerate(names))
    edges = "\n".join(f"\t{i + 1} -> 0" for i in range(len(names)))
    dot = f'digraph snakemake_dag {{\n\t0[label = "all"];\n{nodes}\n{edges}\n}}\n'
    fig = plot_dag(rule_graph(*parse_dot(dot)))
    ax = fig.axes[0]
    boxes = sorted(
        (p.get_x(), p.get_x() + p.get_width(), p.get_y())
        for p in ax.patches
        if isinstance(p, FancyBboxPatch)
    )
    assert len(boxes) == 7
    row = sorted(b for b in boxes if b[2] == max(b[2] for b in boxes))  # the six sources
    assert len(row) == 6
    assert all(left[1] < right[0] for left, right in zip(row, row[1:], strict=False))
    lo, hi = ax.get_xlim()
    assert lo <= row[0][0] and row[-1][1] <= hi
