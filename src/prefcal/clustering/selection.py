"""Choose the number of clusters k from quality AND stability (STUDY.md section 6.2).

Input: one row per k with ``silhouette`` (higher is better), ``davies_bouldin`` (lower is better),
``seed_ari`` (mean ARI between fits with different seeds) and the per-cluster mean bootstrap
Jaccard values (``n_stable`` = clusters with mean Jaccard >= ``jaccard_stable``, Hennig's 0.75).

The rule, exactly:

1. ``stable_share = n_stable / k``. A k is **admissible** when ``seed_ari >= min_seed_ari`` and
   ``stable_share >= min_stable_share``.
2. The candidates are the admissible k. If none is admissible, the candidates are the k with the
   highest ``mean_jaccard`` (the most stable k), and the reason says that no k met the thresholds.
3. Among the candidates, rank silhouette from high to low and Davies-Bouldin from low to high
   (average ranks for ties, rank 1 = best) and take the mean of the two ranks.
4. The chosen k has the lowest mean rank; ties go to the higher silhouette, then to the smaller k.

Thresholds first, quality second: a k whose clusters do not reproduce across seeds and bootstrap
samples is never chosen however good its silhouette, and among reproducible k the one that
separates the data best wins. The returned table has one row per k and the columns ``k, silhouette,
davies_bouldin, seed_ari, mean_jaccard, min_jaccard, n_stable, stable_share, admissible,
mean_rank, chosen, reason``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SELECTION_COLUMNS = (
    "k",
    "silhouette",
    "davies_bouldin",
    "seed_ari",
    "mean_jaccard",
    "min_jaccard",
    "n_stable",
    "stable_share",
    "admissible",
    "mean_rank",
    "chosen",
    "reason",
)


def select_k(
    scores: pd.DataFrame,
    *,
    min_seed_ari: float = 0.8,
    min_stable_share: float = 0.75,
) -> pd.DataFrame:
    """Apply the module's rule to ``scores`` (columns k, silhouette, davies_bouldin, seed_ari,
    mean_jaccard, min_jaccard, n_stable); return the selection table with exactly one chosen row."""
    need = [
        "k",
        "silhouette",
        "davies_bouldin",
        "seed_ari",
        "mean_jaccard",
        "min_jaccard",
        "n_stable",
    ]
    missing = [c for c in need if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lack column(s) {missing}")
    if scores.empty:
        raise ValueError("scores is empty: no k to choose from")
    t = scores[need].sort_values("k").reset_index(drop=True).copy()
    t["stable_share"] = t["n_stable"] / t["k"]
    t["admissible"] = (t["seed_ari"] >= min_seed_ari) & (t["stable_share"] >= min_stable_share)
    if t["admissible"].any():
        cand = t["admissible"].to_numpy()
        fallback = False
    else:
        best = t["mean_jaccard"].max()
        cand = (t["mean_jaccard"] == best).to_numpy()
        fallback = True
    sub = t[cand]
    ranks = (
        sub["silhouette"].rank(ascending=False, method="average")
        + sub["davies_bouldin"].rank(ascending=True, method="average")
    ) / 2.0
    t["mean_rank"] = np.nan
    t.loc[cand, "mean_rank"] = ranks
    order = sub.assign(mean_rank=ranks).sort_values(
        ["mean_rank", "silhouette", "k"], ascending=[True, False, True]
    )
    chosen_k = int(order["k"].iloc[0])
    t["chosen"] = t["k"] == chosen_k
    best_rank = float(order["mean_rank"].iloc[0])

    def reason(row: Any) -> str:
        stab = (
            f"seed ARI {row.seed_ari:.3f} (min {min_seed_ari:g}), "
            f"{int(row.n_stable)}/{int(row.k)} clusters "
            f"stable ({row.stable_share:.2f}, min {min_stable_share:g})"
        )
        if row.chosen:
            if fallback:
                return (
                    f"chosen: no k met the stability thresholds; most stable k (mean Jaccard "
                    f"{row.mean_jaccard:.3f}); {stab}"
                )
            return (
                f"chosen: admissible ({stab}) and best mean rank {row.mean_rank:.1f} of silhouette "
                f"{row.silhouette:.3f} and Davies-Bouldin {row.davies_bouldin:.3f}"
            )
        if not row.admissible:
            why = []
            if row.seed_ari < min_seed_ari:
                why.append(f"seed ARI {row.seed_ari:.3f} < {min_seed_ari:g}")
            if row.stable_share < min_stable_share:
                why.append(f"stable share {row.stable_share:.2f} < {min_stable_share:g}")
            extra = "" if not fallback or np.isnan(row.mean_rank) else "; tied most stable"
            return "not admissible: " + ", ".join(why) + extra
        return f"admissible but mean rank {row.mean_rank:.1f} > {best_rank:.1f} of k={chosen_k}"

    t["reason"] = [reason(r) for r in t.itertuples(index=False)]
    t["n_stable"] = t["n_stable"].astype(np.int64)
    return t[list(SELECTION_COLUMNS)]
