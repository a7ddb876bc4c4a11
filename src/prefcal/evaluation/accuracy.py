r"""Replay accuracy of Home policies on held-out logged requests (Table 1 analogue, STUDY 6.4).

FROZEN DEFINITIONS (changing any of them changes the study; they are the contract of Table 1)
--------------------------------------------------------------------------------------------
Evaluation set
    The *held-out logged requests with a stream*: logged Home requests of the test split (the last
    ``home.test_days`` days of the log period; policies are trained on the earlier days only) in
    which at least one slot was streamed (stream >= 30 s). Each such stream is one *streamed item*
    ``(i, j)``: request ``i``, candidate ``j`` (the item the logging policy showed and the user
    streamed). The evaluated policy is replayed on the *same* candidates and context.

Containment
    ``c_pi(i, j) = P_pi(j in slate_i)``: 1 or 0 for a deterministic policy (SC-W, popularity, a
    greedy bandit), the exact probability for a stochastic one (multinomial blending, an
    epsilon-greedy or Thompson bandit), i.e. the expected value of the indicator over the policy's
    own randomness (no Monte Carlo noise).

Overall accuracy
    .. math:: \mathrm{Acc} = \frac{\sum_{(i,j)} c_\pi(i, j)}{\#\{(i, j)\}},

    the share of streamed items that the policy's slate contains (pooled over all streamed items
    of all users).

Podcast accuracy
    The same, restricted to streamed items whose type is podcast.

Type-level accuracy
    .. math:: \mathrm{Acc}_{type} = \frac{\sum_{(i,j)} 1[\arg\max_g m_{\pi,i,g} = t_j]}
                                         {\#\{(i, j)\}},

    the share of streamed items whose type ``t_j`` gets the most mass in the policy's type mix
    ``m_pi,i`` (SC-W: its target, i.e. the W-day history shares; MB and popularity: their mix;
    arm policies: the expected arm mix ``sum_a pi(a|x_i) a``); ties go to the lowest type index
    (music, podcast, audiobook).

Per-user counts (for the paired bootstrap over users in :mod:`prefcal.evaluation.lifts`)
    Numerators and denominators are summed per user; an accuracy is a ratio of sums, so a lift
    ``Acc_CB / Acc_base - 1`` is the ratio of the two numerator sums (the denominators are the same
    logged streams).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prefcal.simulate.model import PODCAST

__all__ = ["ACCURACY_METRICS", "accuracy", "replay_counts", "user_counts"]

#: metric name -> (numerator column, denominator column)
ACCURACY_METRICS = {
    "overall": ("contained", "streamed"),
    "podcast": ("podcast_contained", "podcast_streamed"),
    "type_level": ("type_correct", "streamed"),
}


def replay_counts(
    streamed: np.ndarray,
    slates: np.ndarray,
    containment: np.ndarray,
    mix: np.ndarray,
    item_type: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-request numerators and denominators of the three accuracies (module docstring).

    Parameters
    ----------
    streamed : (n, K) bool
        Logged streams (>= 30 s) per slot of the logged slate.
    slates : (n, K) int
        Logged slates as action ids (columns of ``containment``).
    containment : (n, J) float
        ``P_pi(j in slate_i)`` of the evaluated policy.
    mix : (n, G) float
        The evaluated policy's type mix per request.
    item_type : (J,) int
        Type id of every action id.

    Returns
    -------
    ``streamed``, ``contained``, ``podcast_streamed``, ``podcast_contained``, ``type_correct``,
    each ``(n,)`` float.
    """
    s = np.asarray(streamed, dtype=bool)
    sl = np.asarray(slates, dtype=np.int64)
    c = np.asarray(containment, dtype=np.float64)
    if s.shape != sl.shape or c.shape[0] != s.shape[0] or mix.shape[0] != s.shape[0]:
        raise ValueError("streamed, slates, containment and mix must describe the same requests")
    if sl.size and (sl.min() < 0 or sl.max() >= c.shape[1]):
        raise ValueError(f"slates must hold action ids in 0..{c.shape[1] - 1}")
    types = np.asarray(item_type, dtype=np.int64)[sl]
    hit = np.take_along_axis(c, sl, axis=1) * s
    pod = s & (types == PODCAST)
    top = np.argmax(np.asarray(mix, dtype=np.float64), axis=1)  # ties: lowest index
    return {
        "streamed": s.sum(axis=1).astype(np.float64),
        "contained": hit.sum(axis=1),
        "podcast_streamed": pod.sum(axis=1).astype(np.float64),
        "podcast_contained": (hit * pod).sum(axis=1),
        "type_correct": (s & (types == top[:, None])).sum(axis=1).astype(np.float64),
    }


def user_counts(counts: dict[str, np.ndarray], user: np.ndarray) -> pd.DataFrame:
    """Sum per-request counts per user: one row per user (sorted), one column per count."""
    codes, users = pd.factorize(pd.Series(np.asarray(user, dtype=object)), sort=True)
    out = {name: np.bincount(codes, weights=v, minlength=len(users)) for name, v in counts.items()}
    return pd.DataFrame(out, index=pd.Index(users, name="participant_id"))


def accuracy(counts: dict[str, np.ndarray] | pd.DataFrame) -> dict[str, float]:
    """``overall``, ``podcast`` and ``type_level`` accuracy (ratios of summed counts)."""
    out = {}
    for metric, (num, den) in ACCURACY_METRICS.items():
        d = float(np.sum(counts[den]))
        out[metric] = float(np.sum(counts[num])) / d if d > 0 else float("nan")
    return out
