"""The workflow DAG figure of the paper (STUDY.md section 8), drawn from Snakemake's own job graph.

``snakemake --dag`` prints the graph of the jobs of a run (one node per job, labelled with the
rule's name and its wildcards) in Graphviz's dot language. :func:`parse_dot` reads it,
:func:`rule_graph` collapses the jobs to rules (``n_jobs[r]`` = the number of jobs of rule ``r``,
an edge ``r -> s`` when some job of ``r`` feeds a job of ``s``), and :func:`plot_dag` draws the
rules in layers without Graphviz: the layer of a rule is the length of the longest path from a
rule without inputs, ``layer(s) = 0`` for a source and ``layer(s) = 1 + max_{r -> s} layer(r)``
otherwise; within a layer, rules are ordered by the mean position of their parents (the
barycentre heuristic, a few sweeps), ties by name, so the drawing is deterministic.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from prefcal.paper.figures import save_figure, use_paper_style

__all__ = ["RuleGraph", "parse_dot", "plot_dag", "rule_graph", "snakemake_dag", "write_dag_figure"]

_NODE = re.compile(r'^\s*(\d+)\s*\[\s*label\s*=\s*"((?:[^"\\]|\\.)*)"', re.M)
_EDGE = re.compile(r"^\s*(\d+)\s*->\s*(\d+)\s*;?\s*$", re.M)


@dataclass(frozen=True)
class RuleGraph:
    """Rules (``n_jobs[rule]`` jobs each) and the edges between them (sorted)."""

    n_jobs: dict[str, int]
    edges: tuple[tuple[str, str], ...]

    def layers(self) -> dict[str, int]:
        """``layer(s)``: the longest path (in edges) from a source rule to ``s``; a source rule
        instead sits one layer above its highest child."""
        parents: dict[str, list[str]] = {r: [] for r in self.n_jobs}
        for a, b in self.edges:
            parents[b].append(a)
        layer: dict[str, int] = {}

        def visit(rule: str, stack: tuple[str, ...] = ()) -> int:
            if rule in stack:
                raise ValueError(f"the workflow graph has a cycle through {rule}")
            if rule not in layer:
                ps = parents[rule]
                layer[rule] = 0 if not ps else 1 + max(visit(p, (*stack, rule)) for p in ps)
            return layer[rule]

        for r in sorted(self.n_jobs):
            visit(r)
        # a source that feeds only later layers sits just above its first child
        children: dict[str, list[str]] = {r: [] for r in self.n_jobs}
        for a, b in self.edges:
            children[a].append(b)
        for r in self.n_jobs:
            if not parents[r] and children[r]:
                layer[r] = min(layer[c] for c in children[r]) - 1
        return layer


def parse_dot(text: str) -> tuple[dict[int, str], list[tuple[int, int]]]:
    """Nodes ``{id: label}`` and edges ``[(from, to)]`` of a Snakemake dot graph."""
    nodes = {int(i): label.encode().decode("unicode_escape") for i, label in _NODE.findall(text)}
    edges = [(int(a), int(b)) for a, b in _EDGE.findall(text)]
    if not nodes:
        raise ValueError("no nodes in the dot text (is it the output of snakemake --dag?)")
    unknown = {i for e in edges for i in e} - set(nodes)
    if unknown:
        raise ValueError(f"edges refer to undeclared nodes {sorted(unknown)[:5]}")
    return nodes, edges


def rule_graph(nodes: Mapping[int, str], edges: Sequence[tuple[int, int]]) -> RuleGraph:
    """Collapse a job graph to its rules: a job's rule is the first line of its label."""
    rule = {i: label.splitlines()[0].strip() for i, label in nodes.items()}
    n_jobs: dict[str, int] = {}
    for r in rule.values():
        n_jobs[r] = n_jobs.get(r, 0) + 1
    pairs = sorted({(rule[a], rule[b]) for a, b in edges if rule[a] != rule[b]})
    return RuleGraph(dict(sorted(n_jobs.items())), tuple(pairs))


def _order(graph: RuleGraph, layer: Mapping[str, int], sweeps: int = 4) -> list[list[str]]:
    """Rules of each layer, ordered by the barycentre of their neighbours in adjacent layers."""
    depth = max(layer.values()) + 1
    rows = [sorted(r for r in graph.n_jobs if layer[r] == d) for d in range(depth)]
    parents: dict[str, list[str]] = {r: [] for r in graph.n_jobs}
    children: dict[str, list[str]] = {r: [] for r in graph.n_jobs}
    for a, b in graph.edges:
        parents[b].append(a)
        children[a].append(b)
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        seq = range(1, depth) if down else range(depth - 2, -1, -1)
        for d in seq:
            ref = rows[d - 1] if down else rows[d + 1]
            pos = {r: i / max(len(ref) - 1, 1) for i, r in enumerate(ref)}
            nbrs = parents if down else children

            def key(r: str, nbrs: dict[str, list[str]] = nbrs, pos: dict = pos) -> tuple:
                ps = [pos[p] for p in nbrs[r] if p in pos]
                return (sum(ps) / len(ps) if ps else 0.5, r)

            rows[d] = sorted(rows[d], key=key)
    return rows


def plot_dag(graph: RuleGraph, title: str | None = None) -> Figure:
    """The rules in layers (top: inputs, bottom: ``all``), arrows for the edges; a rule run as
    several jobs (one per shard) is labelled ``rule x n``."""
    layer = graph.layers()
    rows = _order(graph, layer)
    labels = {r: r if n == 1 else f"{r} \u00d7{n}" for r, n in graph.n_jobs.items()}
    box_w = {r: 0.095 * len(label) + 0.3 for r, label in labels.items()}  # inches at 8.5 pt
    gap = 0.35  # inches between neighbouring boxes of a row
    row_w = [sum(box_w[r] for r in row) + gap * (len(row) - 1) for row in rows]
    fig_w = max(6.5, max(row_w) + 2 * gap)
    fig_h = max(3.0, 0.85 * len(rows) + 0.6)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    xy: dict[str, tuple[float, float]] = {}
    for d, row in enumerate(rows):  # boxes side by side, the row centred: no two overlap
        spare = (fig_w - row_w[d]) / (len(row) + 1)  # spread a short row over the width
        x = spare
        for r in row:
            xy[r] = (x + box_w[r] / 2, fig_h - 0.5 - d * 0.85)
            x += box_w[r] + gap + spare
    for a, b in graph.edges:
        (x0, y0), (x1, y1) = xy[a], xy[b]
        ax.annotate(
            "",
            xy=(x1, y1 + 0.2),
            xytext=(x0, y0 - 0.2),
            arrowprops={"arrowstyle": "-|>", "color": "0.6", "lw": 0.9, "shrinkA": 0, "shrinkB": 0},
            zorder=1,
        )
    for r, (x, y) in xy.items():
        n = graph.n_jobs[r]
        label, w = labels[r], box_w[r]
        face = "#fde0c5" if n > 1 else ("#e8e8e8" if r == "all" else "#d6e6f4")
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - 0.2),
                w,
                0.4,
                boxstyle="round,pad=0.02,rounding_size=0.1",
                facecolor=face,
                edgecolor="0.3",
                lw=0.8,
                zorder=2,
            )
        )
        ax.text(x, y, label, ha="center", va="center", fontsize=8.5, zorder=3)
    ax.set_xlim(0, fig_w)
    ax.set_ylim(0, fig_h)
    ax.set_axis_off()
    ax.grid(False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def snakemake_dag(config: Mapping[str, Any], workdir: str | Path = ".") -> str:
    """``snakemake --dag --forceall`` of the workflow in ``workdir`` with ``config`` (written to a
    temporary YAML file and given as the last ``--configfile``): the job graph of a full run."""
    import json

    snakemake = Path(sys.executable).parent / "snakemake"
    exe = str(snakemake) if snakemake.exists() else "snakemake"
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        json.dump(dict(config), fh)  # JSON is YAML
        cfg = fh.name
    try:
        out = subprocess.run(
            [exe, "--dag", "--forceall", "--nolock", "--quiet", "all", "--configfile", cfg],
            cwd=workdir,
            capture_output=True,
            text=True,
            env=dict(os.environ),
        )
    finally:
        os.unlink(cfg)
    if out.returncode != 0 or "digraph" not in out.stdout:
        raise RuntimeError(f"snakemake --dag failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return out.stdout[out.stdout.index("digraph") :]


def write_dag_figure(dot_text: str, path: str | Path) -> RuleGraph:
    """Draw the rule graph of ``dot_text`` to ``path`` as PDF and PNG (byte-stable)."""
    graph = rule_graph(*parse_dot(dot_text))
    use_paper_style()
    save_figure(plot_dag(graph), path, close=True)
    return graph
