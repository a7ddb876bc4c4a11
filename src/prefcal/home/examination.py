r"""Position-based examination model of the Home slate (Craswell et al. 2008; Semerci et al. 2019).

The user looks at slot ``k`` (0-based, top first) of a slate with probability

.. math:: \theta_k = (k + 1)^{-\eta}, \qquad k = 0, \dots, K - 1,

independently of the item in it (``eta`` = ``home.examination_decay``; ``eta = 0`` examines every
slot). An examined item is streamed with its attraction probability ``a`` (see
:mod:`prefcal.home.environment`), so the probability of a stream at slot ``k`` is ``theta_k a``:
the position-based model (PBM). ``Theta = sum_k theta_k`` is the expected number of examined
slots of a full slate.
"""

from __future__ import annotations

import numpy as np

__all__ = ["draw_examined", "examination_probs"]


def examination_probs(k: int, decay: float) -> np.ndarray:
    """``theta_k = (k + 1)^-decay`` for ``k = 0..K-1``, shape ``(K,)``, values in (0, 1]."""
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"home.slate_size must be a positive integer, got {k!r}")
    decay = float(decay)
    if not np.isfinite(decay) or decay < 0:
        raise ValueError(f"home.examination_decay must be a finite number >= 0, got {decay}")
    return (np.arange(int(k), dtype=np.float64) + 1.0) ** -decay


def draw_examined(rng: np.random.Generator, n: int, theta: np.ndarray) -> np.ndarray:
    """Which slots of ``n`` slates the users examine: ``(n, K)`` bool, ``P(True) = theta_k``.

    Draws ``rng.random((n, K))`` (one uniform per slot).
    """
    th = np.asarray(theta, dtype=np.float64)
    if th.ndim != 1 or np.any((th < 0) | (th > 1)):
        raise ValueError("theta must be a 1-D array of probabilities")
    return rng.random((int(n), th.size)) < th
