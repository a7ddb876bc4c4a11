"""Agreement of a clustering with known genres (simulated data only; STUDY.md section 6.2).

* ARI: adjusted Rand index (Hubert and Arabie 1985), 1 = identical partitions, ~0 = chance.
* NMI: normalised mutual information ``I(L; G) / mean(H(L), H(G))`` (arithmetic mean, as
  scikit-learn's default), 1 = identical, 0 = independent.

Points whose label or truth is ``-1`` (unassigned / unknown) are left out and counted.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def agreement_with_truth(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """``{"ari", "nmi", "n", "n_left_out"}`` between cluster ``labels`` and true genres."""
    lab = np.asarray(labels)
    tru = np.asarray(truth)
    if lab.shape != tru.shape or lab.ndim != 1:
        raise ValueError("labels and truth must be 1-D arrays of the same length")
    ok = (lab != -1) & (tru != -1)
    if not ok.any():
        raise ValueError("no point has both a label and a true genre")
    return {
        "ari": float(adjusted_rand_score(tru[ok], lab[ok])),
        "nmi": float(normalized_mutual_info_score(tru[ok], lab[ok])),
        "n": int(ok.sum()),
        "n_left_out": int((~ok).sum()),
    }


def dominant_genre(
    counts: sp.csr_matrix, column_genre: np.ndarray, n_genres: int | None = None
) -> np.ndarray:
    """Per row of ``counts`` (playlists x artists), the genre with the most tracks.

    ``column_genre[a]`` is artist ``a``'s genre (``-1`` unknown). Ties go to the lower genre id;
    rows without a known genre get ``-1``.
    """
    g = np.asarray(column_genre)
    if g.shape != (counts.shape[1],):
        raise ValueError("column_genre must have one entry per column of counts")
    n_genres = int(g.max()) + 1 if n_genres is None else n_genres
    known = np.flatnonzero(g >= 0)
    m = sp.csr_matrix(
        (np.ones(known.size), (known, g[known])), shape=(counts.shape[1], max(n_genres, 1))
    )
    per = np.asarray((counts @ m).todense())
    out = per.argmax(axis=1)
    out[per.max(axis=1) <= 0] = -1
    return out
