r"""Where does a policy gain or lose podcast accuracy? Replay counts by the request's TRUE intent.

Validation only (it reads the environment's truth, like :mod:`prefcal.evaluation.oracle`). The
held-out logged requests with a stream (the evaluation set of :mod:`prefcal.evaluation.accuracy`)
are split by ``pi_{i,pod}``, the TRUE probability that request ``i``'s latent intent is a podcast
(:meth:`prefcal.home.environment.HomeEnvironment.type_preference`), into bands
``B_b = (e_b, e_{b+1}]`` of the edges ``e_0 < ... < e_B`` (``evaluation.intent_bands``; the first
band also holds ``pi = e_0``). In band ``b``, with ``P_i`` the podcast streams of request ``i`` and
``c_pi(i, j)`` the containment of streamed item ``j`` (frozen definitions of
:mod:`prefcal.evaluation.accuracy`):

Podcast accuracy in band ``b``
    .. math:: \mathrm{Acc}_{pod, b} = \frac{\sum_{i \in B_b} \sum_{j \in P_i} c_\pi(i, j)}
                                           {\sum_{i \in B_b} |P_i|},

    so the bands' accuracies, weighted by their podcast streams, average to the podcast accuracy of
    Table 1.
Podcasts per slate in band ``b``
    .. math:: \bar n_{pod, b} = \frac{\sum_{i \in B_b} \sum_{j\, pod} c_\pi(i, j)}{|B_b|},

    the expected number of podcasts in the policy's slate.
Share of podcast streams in band ``b``
    ``sum_{i in B_b} |P_i| / sum_i |P_i|``.

Lifts ``Acc_{pod,b}(policy) / Acc_{pod,b}(SC-90) - 1`` get paired percentile bootstrap intervals
over users (:func:`prefcal.evaluation.lifts.ratio_lifts`, one resample matrix for every band and
policy). The table shows whether the context-aware mix wins where podcasts are wanted and loses
where they are not, which is how the paper's mechanism and Steck's calibration penalty (one podcast
in almost every slate of a user with any podcast history) trade off in Table 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from prefcal.evaluation.lifts import paired_policies, ratio_lifts
from prefcal.simulate.model import PODCAST

__all__ = ["BAND_COUNTS", "band_counts", "band_labels", "intent_band", "intent_band_table"]

#: per-band count columns: ``{name}_{b}`` for band ``b``
BAND_COUNTS = ("podcast_streamed", "podcast_contained", "requests", "podcast_slots")


def _edges(edges: Sequence[float]) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise ValueError(
            f"config key evaluation.intent_bands must be at least two increasing edges, got {edges}"
        )
    if e[0] > 0 or e[-1] < 1:
        raise ValueError(
            f"config key evaluation.intent_bands must cover [0, 1] (first <= 0, last >= 1), "
            f"got {list(e)}"
        )
    return e


def intent_band(pi_podcast: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Band ``b`` of every request: ``e_b < pi <= e_{b+1}`` (``pi = e_0`` in band 0), ``(n,)``."""
    e = _edges(edges)
    p = np.asarray(pi_podcast, dtype=np.float64)
    return np.clip(np.searchsorted(e, p, side="left") - 1, 0, e.size - 2)


def band_labels(edges: Sequence[float]) -> list[str]:
    """``"0-5 %"``-style labels of the bands (percent, as few decimals as the edges need)."""
    e = _edges(edges)

    def pct(v: float) -> str:
        return f"{100 * v:.10g}"

    return [f"{pct(lo)}-{pct(hi)} %" for lo, hi in zip(e[:-1], e[1:], strict=True)]


def band_counts(
    streamed: np.ndarray,
    slates: np.ndarray,
    containment: np.ndarray,
    item_type: np.ndarray,
    band: np.ndarray,
    n_bands: int,
) -> dict[str, np.ndarray]:
    """Per-request counts of the module docstring, one column per band (0 outside the band).

    ``streamed (n, K)`` bool, ``slates (n, K)`` action ids of the logged slates, ``containment
    (n, J)`` of the evaluated policy, ``item_type (J,)``, ``band (n,)`` from :func:`intent_band`.
    Returns ``{f"{name}_{b}": (n,) float}`` for every name of :data:`BAND_COUNTS` and band ``b``.
    """
    s = np.asarray(streamed, dtype=bool)
    sl = np.asarray(slates, dtype=np.int64)
    c = np.asarray(containment, dtype=np.float64)
    b = np.asarray(band, dtype=np.int64)
    types = np.asarray(item_type, dtype=np.int64)
    if s.shape != sl.shape or c.shape[0] != s.shape[0] or b.shape != (s.shape[0],):
        raise ValueError("streamed, slates, containment and band must describe the same requests")
    if b.size and (b.min() < 0 or b.max() >= n_bands):
        raise ValueError(f"band must lie in 0..{n_bands - 1}")
    pod = s & (types[sl] == PODCAST)
    per_request = {
        "podcast_streamed": pod.sum(axis=1).astype(np.float64),
        "podcast_contained": (np.take_along_axis(c, sl, axis=1) * pod).sum(axis=1),
        "requests": np.ones(s.shape[0]),
        "podcast_slots": c[:, types == PODCAST].sum(axis=1),
    }
    out = {}
    for name in BAND_COUNTS:
        for k in range(n_bands):
            out[f"{name}_{k}"] = np.where(b == k, per_request[name], 0.0)
    return out


def intent_band_table(
    per_user: dict[str, pd.DataFrame],
    edges: Sequence[float],
    control: str = "SC-90",
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | None = None,
) -> pd.DataFrame:
    """Long table of the module docstring from per-user sums of :func:`band_counts`.

    ``per_user[policy]``: one row per user (the same users in the same order for every policy),
    the columns of :func:`band_counts`. Columns: band, label, lower_edge, upper_edge, policy,
    podcast_streams, stream_share, requests, accuracy, podcasts_per_slate, lift, lift_lower,
    lift_upper (lift over ``control``; NaN in a band without podcast streams).
    """
    e = _edges(edges)
    n_bands = e.size - 1
    names = paired_policies(per_user, control)
    cols = [(p, k) for k in range(n_bands) for p in names]
    num = np.column_stack([per_user[p][f"podcast_contained_{k}"].to_numpy(float) for p, k in cols])
    den = np.column_stack([per_user[p][f"podcast_streamed_{k}"].to_numpy(float) for p, k in cols])
    ctrl = [names.index(control) + k * len(names) for _, k in cols]
    lifts = ratio_lifts(num, den, ctrl, n_boot, level, random_state)
    ctl = per_user[control]
    total_pod = float(sum(ctl[f"podcast_streamed_{k}"].sum() for k in range(n_bands)))
    labels = band_labels(e)
    rows = []
    for (p, k), li, n_, d_ in zip(cols, lifts, num.sum(axis=0), den.sum(axis=0), strict=True):
        req = float(per_user[p][f"requests_{k}"].sum())
        slots = float(per_user[p][f"podcast_slots_{k}"].sum())
        rows.append(
            {
                "band": k,
                "label": labels[k],
                "lower_edge": float(e[k]),
                "upper_edge": float(e[k + 1]),
                "policy": p,
                "podcast_streams": d_,
                "stream_share": d_ / total_pod if total_pod > 0 else float("nan"),
                "requests": req,
                "accuracy": n_ / d_ if d_ > 0 else float("nan"),
                "podcasts_per_slate": slots / req if req > 0 else float("nan"),
                "lift": li.estimate if d_ > 0 else float("nan"),
                "lift_lower": li.lower if d_ > 0 else float("nan"),
                "lift_upper": li.upper if d_ > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows)
