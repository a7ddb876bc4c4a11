r"""Candidate pools of a Home request and their relevance from an imperfect ranker.

For each request and content type ``g`` (music, podcast, audiobook) the retrieval stage draws a
pool of ``pool_sizes[g]`` distinct catalogue items (tracks, podcast shows, audiobooks) by
*successive sampling without replacement* with probability proportional to the item's popularity
weight (tracks: artist weight x within-artist track weight; shows and audiobooks: their weight).
The ranker scores every candidate with

.. math:: r_i = \mathrm{fit}_{u,i}(\tau) + \sigma \, \varepsilon_i, \qquad
          \varepsilon_i \sim N(0, 1),

where ``fit`` is the user's true taste fit of the item's genre
(:func:`prefcal.simulate.model.taste_fit`, in [0, 1]) and ``sigma`` = ``home.ranker_noise``
(0 = a perfect ranker). Only the ``K`` best candidates of each type (by ``r``, ties to the earlier
draw) reach the slate builders: every policy of the study (Steck's greedy, multinomial blending)
picks the best remaining item of some type at each slot, so no slate of ``K`` items can hold an item
of rank ``> K`` within its type. The ``J = G K`` kept candidates are stored type by type, best
first: column ``j`` holds the item of type ``j // K`` and within-type rank ``j % K``. That column
index is the *action id* of the item-level off-policy estimators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from prefcal.simulate import model
from prefcal.simulate.catalogue import Catalogue

__all__ = [
    "Candidates",
    "HomeCatalogue",
    "PoolRandoms",
    "draw_candidates",
    "pool_randoms",
    "sample_without_replacement",
]

#: Pools larger than this share of the catalogue are drawn with Gumbel keys over all items.
DENSE_SHARE = 0.1


@dataclass(frozen=True)
class HomeCatalogue:
    """Per content type (music, podcast, audiobook): genre, retrieval weight, minutes of items."""

    genre: tuple[np.ndarray, ...]
    weight: tuple[np.ndarray, ...]
    minutes: tuple[np.ndarray, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of items of each type."""
        return tuple(int(g.size) for g in self.genre)

    @cached_property
    def alias(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """Alias tables of the retrieval weights, one per type (:func:`alias_table`)."""
        return tuple(alias_table(w) for w in self.weight)

    @classmethod
    def from_catalogue(cls, cat: Catalogue) -> HomeCatalogue:
        """Tracks, shows and audiobooks of a simulated catalogue.

        Minutes: a track's duration; a show's mean episode duration; an audiobook's mean chapter
        duration (what one Home stream of it plays, assuming it is heard to the end).
        """
        tracks = cat.tables["tracks"]
        t_artist = cat.track_artist
        t_w = tracks.column("weight").to_numpy().astype(np.float64)
        within = t_w / np.bincount(t_artist, weights=t_w)[t_artist]
        music_w = cat.artist_weight[t_artist] * within
        n_shows = cat.show_genre.size
        ep_sum = np.bincount(cat.episode_show, weights=cat.episode_duration, minlength=n_shows)
        ep_n = np.bincount(cat.episode_show, minlength=n_shows)
        n_books = cat.audiobook_genre.size
        ch_sum = np.bincount(cat.chapter_audiobook, weights=cat.chapter_duration, minlength=n_books)
        ch_n = np.bincount(cat.chapter_audiobook, minlength=n_books)
        return cls(
            genre=(cat.track_genre, cat.show_genre, cat.audiobook_genre),
            weight=(music_w, cat.show_weight.astype(np.float64), cat.audiobook_weight),
            minutes=(
                cat.track_duration / 60_000.0,
                ep_sum / np.maximum(ep_n, 1) / 60_000.0,
                ch_sum / np.maximum(ch_n, 1) / 60_000.0,
            ),
        )

    @classmethod
    def read(cls, cat_dir: str | Path) -> HomeCatalogue:
        """Load ``results/truth/catalogue`` (written by ``prefcal simulate catalogue``)."""
        return cls.from_catalogue(Catalogue.read(cat_dir))


@dataclass
class Candidates:
    """The ``J = G K`` candidates of ``n`` requests that reach the slate builders.

    ``item_id``, ``relevance`` and ``minutes`` are what a logging system sees; ``genre`` is truth
    (the environment uses it for the taste fit).
    """

    item_id: np.ndarray  # (n, J) int64 catalogue id within the item's type
    relevance: np.ndarray  # (n, J) float64 ranker score, non-increasing within each type block
    genre: np.ndarray  # (n, J) int64 true genre (truth)
    minutes: np.ndarray  # (n, J) float64 minutes one stream of the item plays

    @property
    def n(self) -> int:
        """Number of requests."""
        return int(self.item_id.shape[0])

    def take(self, rows: np.ndarray) -> Candidates:
        """The candidates of some requests."""
        return Candidates(
            self.item_id[rows], self.relevance[rows], self.genre[rows], self.minutes[rows]
        )

    @staticmethod
    def concat(parts: list[Candidates]) -> Candidates:
        """Stack the candidates of several request batches."""
        return Candidates(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("item_id", "relevance", "genre", "minutes")
            )
        )


def action_types(k: int, n_types: int = len(model.CONTENT_TYPES)) -> np.ndarray:
    """Type id of every action id ``j = type * K + rank``: ``(G K,)``."""
    return np.repeat(np.arange(n_types, dtype=np.int64), int(k))


def is_dense(pool: int, n_items: int) -> bool:
    """Whether a pool is drawn with Gumbel keys over all items (see :func:`pool_randoms`)."""
    return pool > DENSE_SHARE * n_items


def oversample(pool: int) -> int:
    """Draws with replacement per request for a sparse pool of ``pool`` distinct items."""
    return pool + 8 + pool // 8


def alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table ``(prob, alias)`` of ``P(i) ∝ weights_i`` (Vose's construction).

    A uniform ``U`` gives the draw ``i = floor(U N)`` if ``frac(U N) < prob[i]`` else
    ``alias[i]``: exactly ``P(i)`` in O(1) per draw (:func:`alias_draw`).
    """
    w = np.asarray(weights, dtype=np.float64)
    n = w.size
    scaled = w * (n / w.sum())
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s_i, l_i = small.pop(), large.pop()
        prob[s_i] = scaled[s_i]
        alias[s_i] = l_i
        scaled[l_i] -= 1.0 - scaled[s_i]
        (small if scaled[l_i] < 1.0 else large).append(l_i)
    return prob, alias


def alias_draw(prob: np.ndarray, alias: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draws from an alias table for uniforms ``u`` (any shape), one uniform per draw."""
    n = prob.size
    x = np.asarray(u) * n
    i = np.minimum(x.astype(np.int64), n - 1)
    return np.where(x - i < prob[i], i, alias[i])


@dataclass
class PoolRandoms:
    """The random numbers behind the candidates of ``n`` requests (one block per content type).

    ``draws[g]`` is ``(n, n_items_g)`` Gumbel noise for a dense pool or ``(n, oversample)``
    uniforms for a sparse one; ``noise[g]`` is the ranker noise ``(n, pool_g)``.
    """

    draws: list[np.ndarray]
    noise: list[np.ndarray]


def pool_randoms(
    rng: np.random.Generator, n: int, catalogue: HomeCatalogue, pool_sizes: tuple[int, ...]
) -> PoolRandoms:
    """Draw the random numbers of :class:`PoolRandoms` from ``rng`` (per type: draws, noise)."""
    draws, noise = [], []
    for g, size in enumerate(pool_sizes):
        n_items = catalogue.sizes[g]
        if is_dense(int(size), n_items):
            draws.append(rng.gumbel(size=(n, n_items)))
        else:
            draws.append(rng.random((n, oversample(int(size)))))
        noise.append(rng.standard_normal((n, int(size))))
    return PoolRandoms(draws, noise)


def sample_without_replacement(
    weights: np.ndarray,
    size: int,
    draws: np.ndarray,
    topup: Callable[[int], np.random.Generator] | None = None,
    table: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Rows of ``size`` distinct item indices drawn successively with ``P ∝ weights``.

    ``draws`` are the row's random numbers (:func:`pool_randoms`): Gumbel keys over all items
    (dense; the ``size`` largest ``log w + G`` win, Efraimidis-Spirakis) or uniforms of draws with
    replacement (through the alias table ``table`` of the weights, :func:`alias_table`),
    deduplicated keeping first occurrences in draw order (sparse), which is the same
    successive-sampling distribution. A sparse row with too few distinct draws is completed with
    Gumbel keys over the items it lacks from the generator ``topup(row)`` (rare). Returns
    ``(n, size)`` int64.
    """
    w = np.asarray(weights, dtype=np.float64)
    n_items = w.size
    n = draws.shape[0]
    if size > int(np.count_nonzero(w > 0)):
        raise ValueError(
            f"cannot draw {size} distinct candidates from {int(np.count_nonzero(w > 0))} items "
            "with positive weight: lower home.pool_sizes"
        )
    if n == 0:
        return np.empty((0, size), dtype=np.int64)
    with np.errstate(divide="ignore"):
        logw = np.log(w)
    dense = is_dense(size, n_items)
    if draws.shape[1] != (n_items if dense else oversample(size)):
        raise ValueError(f"draws have {draws.shape[1]} columns, not those of pool_randoms")
    if dense:
        keys = logw[None, :] + draws
        top = np.argpartition(-keys, size - 1, axis=1)[:, :size]
        order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1).astype(np.int64)
    prob, alias = alias_table(w) if table is None else table
    cand = alias_draw(prob, alias, draws)
    order = np.argsort(cand, axis=1, kind="stable")
    srt = np.take_along_axis(cand, order, axis=1)
    dup_sorted = np.zeros(srt.shape, dtype=bool)
    dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
    dup = np.empty_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    n_keep = (~dup).sum(axis=1)
    pos = np.argsort(dup, axis=1, kind="stable")[:, :size]
    out = np.take_along_axis(cand, pos, axis=1).astype(np.int64)
    for row in np.flatnonzero(n_keep < size).tolist():
        if topup is None:
            raise ValueError("a sparse pool ran short of distinct items and no top-up generator")
        have = out[row, : n_keep[row]]
        keys = logw + topup(row).gumbel(size=n_items)
        keys[have] = -np.inf
        extra = np.argsort(-keys, kind="stable")[: size - have.size]
        out[row] = np.concatenate([have, extra])
    return out


def draw_candidates(
    randoms: PoolRandoms,
    params: model.UserParams,
    tau: np.ndarray,
    catalogue: HomeCatalogue,
    pool_sizes: tuple[int, ...],
    slate_size: int,
    ranker_noise: float,
    topup: Callable[[int], np.random.Generator] | None = None,
) -> Candidates:
    """Pools, ranker scores and the top ``K`` per type for ``params.n`` requests (one per row).

    ``params`` holds one row per request (:meth:`UserParams.take`), ``tau`` the request's position
    in the simulated period (taste drifts with it), ``randoms`` the requests' random numbers and
    ``topup(row)`` a generator per request for the rare completion of a short sparse pool.
    """
    k = int(slate_size)
    ids, rels, genres, mins = [], [], [], []
    for g in range(len(model.CONTENT_TYPES)):
        pool = sample_without_replacement(
            catalogue.weight[g], int(pool_sizes[g]), randoms.draws[g], topup, catalogue.alias[g]
        )
        genre = catalogue.genre[g][pool]
        fit = model.taste_fit(params, genre, tau)
        rel = fit + float(ranker_noise) * randoms.noise[g]
        top = np.argsort(-rel, axis=1, kind="stable")[:, :k]
        ids.append(np.take_along_axis(pool, top, axis=1))
        rels.append(np.take_along_axis(rel, top, axis=1))
        genres.append(np.take_along_axis(genre, top, axis=1))
        mins.append(catalogue.minutes[g][ids[-1]])
    return Candidates(
        item_id=np.concatenate(ids, axis=1),
        relevance=np.concatenate(rels, axis=1),
        genre=np.concatenate(genres, axis=1).astype(np.int64),
        minutes=np.concatenate(mins, axis=1),
    )
