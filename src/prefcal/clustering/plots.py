"""The clustering diagnostics figure: quality and stability against k (STUDY.md section 8)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from prefcal.paper.figures import FIGURE_WIDTH

__all__ = ["plot_diagnostics"]


def plot_diagnostics(
    selection: pd.DataFrame, *, min_seed_ari: float, jaccard_stable: float
) -> Figure:
    """Three panels against k: silhouette (higher is better), Davies-Bouldin (lower is better),
    and stability (mean ARI between seeds; mean and minimum per-cluster bootstrap Jaccard), with the
    admissibility thresholds dashed and the chosen k marked in every panel.

    ``selection`` is the table of :func:`prefcal.clustering.select_k`.
    """
    t = selection.sort_values("k")
    chosen = int(t.loc[t["chosen"], "k"].iloc[0])
    fig, axes = plt.subplots(1, 3, figsize=(FIGURE_WIDTH, 2.3), sharex=True)
    panels = [
        ("silhouette", "Silhouette (higher better)"),
        ("davies_bouldin", "Davies-Bouldin (lower better)"),
    ]
    for ax, (col, title) in zip(axes[:2], panels, strict=True):
        ax.plot(t["k"], t[col], marker="o", color="C0")
        ax.set_title(title)
    ax = axes[2]
    ax.plot(t["k"], t["seed_ari"], marker="o", color="C1", label="seed ARI")
    ax.plot(t["k"], t["mean_jaccard"], marker="s", color="C2", label="mean Jaccard")
    ax.plot(t["k"], t["min_jaccard"], marker="v", color="C2", ls=":", label="min Jaccard")
    ax.axhline(min_seed_ari, color="C1", ls="--", lw=0.8)
    if abs(jaccard_stable - min_seed_ari) > 1e-9:
        ax.axhline(jaccard_stable, color="C2", ls="--", lw=0.8)
    ax.set_ylim(0, 1.02)
    ax.set_title("Stability")
    ax.legend(loc="lower left", frameon=True, fontsize=7, framealpha=0.8)
    for ax in axes:
        ax.axvline(chosen, color="0.3", ls="--", lw=0.8)
        ax.set_xlabel("k (clusters)")
        ax.set_xticks(list(t["k"]))
    axes[0].annotate(
        f"chosen k = {chosen}",
        xy=(chosen, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(3, -12),
        textcoords="offset points",
        fontsize=7,
    )
    fig.tight_layout()
    return fig
