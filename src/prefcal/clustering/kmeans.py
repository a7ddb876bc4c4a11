"""MiniBatchKMeans over a grid of k, several seeds per k (STUDY.md section 6.2).

Each fit is ``MiniBatchKMeans(n_clusters=k, random_state=kmeans_seed(seed, k, s), ...)`` on the L2
normalised embedding. The integer ``random_state`` of fit ``s`` at ``k`` is drawn from
``numpy.random.SeedSequence([seed, k, s])``, so a fit does not change when the grid changes.

Fits run single-threaded (:func:`single_threaded`): a mini-batch step is far too small for OpenMP,
whose threads then spend their time waiting for each other. Measured on the 2-core machine of the
benchmarks while other jobs ran, one refit of a 20,000-playlist bootstrap sample took 0.5 s with
one thread and 5.6 s with two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from threadpoolctl import threadpool_limits


def single_threaded() -> threadpool_limits:
    """Context manager limiting OpenMP and BLAS to one thread (k-means fits)."""
    return threadpool_limits(limits=1)


def derived_seed(*entropy: int) -> int:
    """A 31-bit integer seed from ``SeedSequence(entropy)`` (for scikit-learn's random_state)."""
    return int(np.random.SeedSequence([int(e) for e in entropy]).generate_state(1)[0] & 0x7FFFFFFF)


def kmeans_seed(seed: int, k: int, s: int) -> int:
    """The random_state of fit number ``s`` (0-based) at ``k`` clusters."""
    return derived_seed(seed, 1, k, s)


def make_kmeans(
    k: int, random_state: int, *, batch_size: int = 16384, n_init: int = 3, max_iter: int = 100
) -> MiniBatchKMeans:
    """The estimator used for every fit (grid, seeds, bootstrap), k-means++ initialisation."""
    return MiniBatchKMeans(
        n_clusters=k,
        init="k-means++",
        batch_size=batch_size,
        n_init=n_init,
        max_iter=max_iter,
        random_state=random_state,
        compute_labels=True,
    )


@dataclass
class KMeansGrid:
    """Fits over the grid: ``labels[k]`` has shape ``(n_seeds, n)``; ``models[k]`` is seed 0's."""

    k_grid: list[int]
    labels: dict[int, np.ndarray] = field(default_factory=dict)
    inertia: dict[int, np.ndarray] = field(default_factory=dict)
    models: dict[int, MiniBatchKMeans] = field(default_factory=dict)


def fit_kmeans_grid(
    x: np.ndarray,
    k_grid: Sequence[int],
    *,
    seed: int,
    n_seeds: int = 3,
    batch_size: int = 16384,
    n_init: int = 3,
    max_iter: int = 100,
) -> KMeansGrid:
    """Fit ``n_seeds`` MiniBatchKMeans models for every ``k`` in ``k_grid`` on the rows of ``x``."""
    ks = sorted({int(k) for k in k_grid})
    if not ks or ks[0] < 2:
        raise ValueError(f"clustering.k_grid must hold integers >= 2, got {list(k_grid)}")
    if ks[-1] >= x.shape[0]:
        raise ValueError(
            f"clustering.k_grid value {ks[-1]} is not below the number of rows {x.shape[0]}"
        )
    if n_seeds < 1:
        raise ValueError("clustering.n_seeds must be >= 1")
    grid = KMeansGrid(k_grid=ks)
    with single_threaded():
        _fit_all(grid, x, ks, seed, n_seeds, batch_size, n_init, max_iter)
    return grid


def _fit_all(
    grid: KMeansGrid,
    x: np.ndarray,
    ks: list[int],
    seed: int,
    n_seeds: int,
    batch_size: int,
    n_init: int,
    max_iter: int,
) -> None:
    for k in ks:
        labels = np.empty((n_seeds, x.shape[0]), dtype=np.int32)
        inertia = np.empty(n_seeds)
        for s in range(n_seeds):
            model = make_kmeans(
                k, kmeans_seed(seed, k, s), batch_size=batch_size, n_init=n_init, max_iter=max_iter
            ).fit(x)
            labels[s] = model.labels_
            inertia[s] = model.inertia_
            if s == 0:
                grid.models[k] = model
        grid.labels[k] = labels
        grid.inertia[k] = inertia
