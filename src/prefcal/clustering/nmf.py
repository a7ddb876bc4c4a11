"""NMF soft memberships of playlists: the second clustering model (STUDY.md section 6.2).

``X ≈ W H`` with ``X`` the non-negative TF-IDF matrix (playlists x features), ``W >= 0``
(playlists x r) and ``H >= 0`` (r x features), Frobenius loss, NNDSVDa initialisation, explicit
``random_state``. Because ``W`` and ``H`` are only defined up to a rescaling of each component,
memberships use the scale-free form

    m[p, j] = W[p, j] * ||H[j]||_2 / sum_l W[p, l] * ||H[l]||_2,

i.e. each component's share of the playlist's reconstruction in units of unit-norm topics. Rows
with ``W[p] = 0`` (nothing reconstructed) get an all-zero membership row and ``assigned = False``.
Above ``minibatch_above`` rows scikit-learn's :class:`~sklearn.decomposition.MiniBatchNMF` is used
(same loss, online updates). At a million playlists the pipeline fits the topics ``H`` on a seeded
subsample of ``clustering.nmf_sample`` playlists and then solves every playlist's ``W`` with ``H``
fixed (``transform``), which halves the cost at the same agreement with the true genres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import NMF, MiniBatchNMF


@dataclass
class NMFResult:
    """Soft memberships (rows sum to 1 where ``assigned``) and the fitted model."""

    memberships: np.ndarray
    assigned: np.ndarray
    model: NMF | MiniBatchNMF

    @property
    def hard_labels(self) -> np.ndarray:
        """Arg-max component per playlist, -1 where nothing was assigned."""
        return np.where(self.assigned, self.memberships.argmax(axis=1), -1)


def soft_memberships(w: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``m[p, j] = W[p, j] ||H_j|| / sum_l W[p, l] ||H_l||`` and the mask of non-zero rows."""
    scaled = np.asarray(w, dtype=np.float64) * np.linalg.norm(h, axis=1)[None, :]
    total = scaled.sum(axis=1)
    assigned = total > 0
    out = np.zeros_like(scaled)
    out[assigned] = scaled[assigned] / total[assigned, None]
    return out, assigned


def nmf_memberships(
    x: sp.spmatrix | np.ndarray,
    n_components: int,
    *,
    random_state: int,
    max_iter: int = 300,
    minibatch_above: int = 200_000,
    batch_size: int = 16384,
    fit_rows: np.ndarray | None = None,
) -> NMFResult:
    """Fit NMF with ``n_components`` topics on ``x`` and return soft memberships (module doc).

    With ``fit_rows`` (row indices, e.g. a seeded subsample) the topics ``H`` are fitted on those
    rows only and ``W`` of every row is then solved with ``H`` fixed (``transform``).
    """
    if n_components < 1 or n_components > min(x.shape):
        raise ValueError(f"NMF n_components={n_components} must lie in [1, {min(x.shape)}]")
    subsample = fit_rows is not None and len(fit_rows) < x.shape[0]
    x_fit = x[np.sort(np.asarray(fit_rows))] if subsample else x
    if x_fit.shape[0] > minibatch_above:
        model: NMF | MiniBatchNMF = MiniBatchNMF(
            n_components=n_components,
            init="nndsvda",
            batch_size=batch_size,
            max_iter=max_iter,
            random_state=random_state,
        )
    else:
        model = NMF(
            n_components=n_components, init="nndsvda", max_iter=max_iter, random_state=random_state
        )
    if subsample:
        w = model.fit(x_fit).transform(x)
    else:
        w = model.fit_transform(x)
    mem, assigned = soft_memberships(w, model.components_)
    return NMFResult(mem, assigned, model)
