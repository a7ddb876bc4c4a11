"""Vectorised permutation, sign-flip and bootstrap tests over users (no Python loop over draws).

Every test draws its whole resampling design as one matrix from a seeded
:class:`numpy.random.Generator` and evaluates the statistic for all draws with array operations, in
blocks of rows to bound memory: at most ``block`` draws and ``block_elements`` entries per block
(:data:`BLOCK_ELEMENTS`, 16 MB of float64; :data:`SIGN_FLIP_BLOCK_ELEMENTS` for the sign flips), so
memory does not grow with the users. The block size never changes the draws, nor the statistics
except for the matrix-vector product of the sign flips, whose last bits BLAS may round differently
with the number of rows: their cap keeps the ``block`` rows they always had up to 16,000 users.
The draws are defined so that a plain loop that makes the same calls one draw at a time gets the
same numbers (the ``*_loop`` references below, used by the tests and by ``bench/rq.py`` as the
naive baseline):

* a permutation of ``n`` users = ``argsort`` of ``n`` uniform draws (``rng.random(n)``);
* a bootstrap resample = ``floor(n * u)`` for ``n`` uniforms ``u`` (indices with replacement);
* a sign flip = ``+1`` where a uniform is ``< 0.5``, else ``-1``.

p-values count the observed statistic as one of the draws (Phipson & Smyth 2010):
``p = (1 + #{T_b >= T_obs}) / (B + 1)`` (``greater``), with ``<=`` for ``less`` and ``|T|`` for
``two-sided``; a relative tolerance of 1e-12 absorbs floating-point ties. Under exchangeability
``P(p <= alpha) <= alpha`` exactly. Bootstrap CIs are percentile intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = [
    "BootstrapResult",
    "PermutationResult",
    "assignment_permutation_loop",
    "assignment_permutation_test",
    "assignment_permutation_test_factored",
    "assignment_statistic",
    "block_rows",
    "bootstrap_indices",
    "bootstrap_mean",
    "bootstrap_mean_loop",
    "bootstrap_slope",
    "factored_row_own",
    "permutation_indices",
    "permutation_p_value",
    "sign_flip_loop",
    "sign_flip_test",
    "sign_flips",
    "slope_permutation_test",
]

ALTERNATIVES = ("greater", "less", "two-sided")
DEFAULT_BLOCK = 500
#: at most this many entries per block of draws (``block`` rows x ``n`` users)
BLOCK_ELEMENTS = 2_000_000
#: the cap of :func:`sign_flip_test` (its BLAS product rounds with the block: 500 rows x 16,000)
SIGN_FLIP_BLOCK_ELEMENTS = 8_000_000


@dataclass(frozen=True)
class PermutationResult:
    """Observed statistic, p-value, and the statistic under each of the ``B`` draws."""

    statistic: float
    p_value: float
    null: np.ndarray
    alternative: str


@dataclass(frozen=True)
class BootstrapResult:
    """Estimate on the full sample, percentile CI at ``level``, and the ``B`` bootstrap values."""

    estimate: float
    ci_low: float
    ci_high: float
    level: float
    replicates: np.ndarray


def _check_count(b: int, what: str) -> int:
    if int(b) != b or b < 1:
        raise ValueError(f"{what} must be a positive integer, got {b}")
    return int(b)


def permutation_indices(rng: np.random.Generator, n: int, n_draws: int) -> np.ndarray:
    """(n_draws, n) matrix, row b = argsort of n uniforms: a uniformly random permutation."""
    return np.argsort(rng.random((n_draws, n)), axis=1, kind="stable")


def bootstrap_indices(rng: np.random.Generator, n: int, n_draws: int) -> np.ndarray:
    """(n_draws, n) matrix of indices drawn uniformly with replacement (``floor(n u)``)."""
    idx = (rng.random((n_draws, n)) * n).astype(np.intp)
    return np.minimum(idx, n - 1)


def sign_flips(rng: np.random.Generator, n: int, n_draws: int) -> np.ndarray:
    """(n_draws, n) matrix of independent fair signs +1 / -1 (``u < 0.5`` -> +1)."""
    return np.where(rng.random((n_draws, n)) < 0.5, 1.0, -1.0)


def permutation_p_value(observed: float, null: np.ndarray, alternative: str = "greater") -> float:
    """``(1 + #{draws at least as extreme as observed}) / (B + 1)``; NaN if observed is NaN."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if not np.isfinite(observed):
        return float("nan")
    null = np.asarray(null, dtype=np.float64)
    tol = 1e-12 * max(1.0, abs(observed))
    if alternative == "greater":
        hits = np.count_nonzero(null >= observed - tol)
    elif alternative == "less":
        hits = np.count_nonzero(null <= observed + tol)
    else:
        hits = np.count_nonzero(np.abs(null) >= abs(observed) - tol)
    return float((1 + hits) / (null.size + 1))


def block_rows(block: int, width: int, block_elements: int = BLOCK_ELEMENTS) -> int:
    """Draws per block: ``block``, fewer when ``block x width`` exceeds ``block_elements`` (never
    below one)."""
    return max(1, min(int(block), int(block_elements) // max(1, int(width))))


def _blocks(n_draws: int, block: int):
    for start in range(0, n_draws, block):
        yield min(block, n_draws - start)


# --- H1: which target belongs to which user --------------------------------------------------


def assignment_statistic(d: np.ndarray, perm: np.ndarray | None = None) -> np.ndarray | float:
    """``T = mean_u [ D_other(u) - D_own(u) ]`` for the user <-> target assignment ``perm``.

    ``d`` (n, n): ``d[u, v]`` = divergence of user u's recommendations from user v's target.
    With assignment ``pi`` (identity when ``perm`` is None), own = ``d[u, pi(u)]`` and other = the
    mean over the n - 1 other targets, ``(sum_v d[u, v] - own) / (n - 1)``. ``perm`` may be (n,) or
    (B, n) (one statistic per row).
    """
    d = np.asarray(d, dtype=np.float64)
    n = d.shape[0]
    if d.ndim != 2 or d.shape[1] != n or n < 2:
        raise ValueError(f"d must be a square (n, n) matrix with n >= 2, got {d.shape}")
    row = d.sum(axis=1)
    if perm is None:
        own = np.diag(d)
        return float(np.mean((row - own) / (n - 1) - own))
    perm = np.asarray(perm)
    own = d[np.arange(n), perm] if perm.ndim == 1 else d[np.arange(n)[None, :], perm]
    return np.mean((row - own) / (n - 1) - own, axis=-1)


def assignment_permutation_test(
    d: np.ndarray,
    n_permutations: int,
    rng: np.random.Generator,
    alternative: str = "greater",
    block: int = DEFAULT_BLOCK,
    block_elements: int = BLOCK_ELEMENTS,
) -> PermutationResult:
    """Permutation test of H1: shuffle the user <-> target assignment (all n! equally likely).

    Observed: :func:`assignment_statistic` with the true assignment. Null: the same statistic for
    ``n_permutations`` random permutations of the columns of ``d``. Exact under the null that the
    recommendations of a user are independent of which target is theirs (users i.i.d.).
    """
    b = _check_count(n_permutations, "n_permutations")
    d = np.asarray(d, dtype=np.float64)
    observed = float(assignment_statistic(d))
    null = np.empty(b)
    done = 0
    for size in _blocks(b, block_rows(block, d.shape[0], block_elements)):
        perm = permutation_indices(rng, d.shape[0], size)
        null[done : done + size] = assignment_statistic(d, perm)
        done += size
    return PermutationResult(
        observed, permutation_p_value(observed, null, alternative), null, alternative
    )


def factored_row_own(
    w: sparse.spmatrix, j: np.ndarray, block_elements: int = 4_000_000
) -> tuple[np.ndarray, np.ndarray]:
    """Row sums ``sum_v d[u, v]`` and diagonal ``d[u, u]`` of ``d = w @ j`` (``w (n, K)`` sparse,
    ``j (K, n)``), computed in blocks of rows of at most ``block_elements`` entries: the same
    values as from the full matrix, without it."""
    w = sparse.csr_matrix(w)
    j = np.asarray(j, dtype=np.float64)
    n, k = w.shape
    if j.shape != (k, n) or n < 2:
        raise ValueError(f"w (n, K) and j (K, n) with n >= 2 expected, got {w.shape}, {j.shape}")
    row = np.empty(n)
    own = np.empty(n)
    step = max(1, block_elements // n)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        d = np.asarray(w[lo:hi] @ j)
        row[lo:hi] = d.sum(axis=1)
        own[lo:hi] = d[np.arange(hi - lo), np.arange(lo, hi)]
    return row, own


def assignment_permutation_test_factored(
    w: sparse.spmatrix,
    j: np.ndarray,
    n_permutations: int,
    rng: np.random.Generator,
    alternative: str = "greater",
    block_elements: int = 4_000_000,
    row_own: tuple[np.ndarray, np.ndarray] | None = None,
) -> PermutationResult:
    """:func:`assignment_permutation_test` of ``d = w @ j`` without the ``(n, n)`` matrix.

    ``w (n, K)`` sparse, ``j (K, n)`` (:func:`prefcal.rq.divergence.cross_js_factors`);
    ``row_own`` = :func:`factored_row_own` (computed when None). A permuted own divergence
    ``d[u, pi(u)] = sum_k w[u, k] j[k, pi(u)]`` is gathered for a block of permutations at a time
    (at most ``block_elements`` entries); the draws are those of
    :func:`assignment_permutation_test` (blocks never change them). Memory ``O(n K)`` plus the
    block.
    """
    b = _check_count(n_permutations, "n_permutations")
    w = sparse.csr_matrix(w)
    j = np.asarray(j, dtype=np.float64)
    row, own = factored_row_own(w, j, block_elements) if row_own is None else row_own
    n, k = w.shape
    observed = float(np.mean((row - own) / (n - 1) - own))
    wd = w.toarray()  # (n, K): K distinct slates, few
    null = np.empty(b)
    done = 0
    for size in _blocks(b, max(1, block_elements // n)):
        perm = permutation_indices(rng, n, size)
        own_b = np.zeros((size, n))
        for c in range(k):  # w[u, c] j[c, pi(u)], summed over c in order
            own_b += wd[:, c][None, :] * j[c][perm]
        null[done : done + size] = np.mean((row - own_b) / (n - 1) - own_b, axis=-1)
        done += size
    return PermutationResult(
        observed, permutation_p_value(observed, null, alternative), null, alternative
    )


def assignment_permutation_loop(
    d: np.ndarray, n_permutations: int, rng: np.random.Generator, alternative: str = "greater"
) -> PermutationResult:
    """Naive reference of :func:`assignment_permutation_test`: one permutation at a time, a Python
    loop over users inside (same draws, same result)."""
    d = np.asarray(d, dtype=np.float64)
    n = d.shape[0]
    row = [float(sum(d[u])) for u in range(n)]

    def stat(perm: np.ndarray) -> float:
        total = 0.0
        for u in range(n):
            own = d[u, perm[u]]
            total += (row[u] - own) / (n - 1) - own
        return total / n

    observed = stat(np.arange(n))
    null = np.array([stat(np.argsort(rng.random(n), kind="stable")) for _ in range(n_permutations)])
    return PermutationResult(
        observed, permutation_p_value(observed, null, alternative), null, alternative
    )


# --- paired differences: sign flips and bootstrap --------------------------------------------


def _finite_1d(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {x.shape}")
    return x[np.isfinite(x)]


def sign_flip_test(
    x: np.ndarray,
    n_permutations: int,
    rng: np.random.Generator,
    alternative: str = "greater",
    block: int = DEFAULT_BLOCK,
    block_elements: int = SIGN_FLIP_BLOCK_ELEMENTS,
) -> PermutationResult:
    """Sign-flip test of ``mean(x) = 0`` for per-user paired differences ``x`` (NaN dropped).

    Statistic ``T = mean_u x_u``; null draws ``mean_u e_u x_u`` with independent fair signs ``e``.
    Exact when each ``x_u`` is symmetric about 0 under the null.
    """
    b = _check_count(n_permutations, "n_permutations")
    x = _finite_1d(x, "x")
    if x.size == 0:
        return PermutationResult(float("nan"), float("nan"), np.empty(0), alternative)
    observed = float(x.mean())
    null = np.empty(b)
    done = 0
    for size in _blocks(b, block_rows(block, x.size, block_elements)):
        null[done : done + size] = sign_flips(rng, x.size, size) @ x / x.size
        done += size
    return PermutationResult(
        observed, permutation_p_value(observed, null, alternative), null, alternative
    )


def sign_flip_loop(
    x: np.ndarray, n_permutations: int, rng: np.random.Generator, alternative: str = "greater"
) -> PermutationResult:
    """Naive reference of :func:`sign_flip_test` (Python loop over draws and users)."""
    x = _finite_1d(x, "x")
    observed = float(x.mean())
    null = []
    for _ in range(n_permutations):
        u = rng.random(x.size)
        total = 0.0
        for i in range(x.size):
            total += x[i] if u[i] < 0.5 else -x[i]
        null.append(total / x.size)
    null_arr = np.array(null)
    return PermutationResult(
        observed, permutation_p_value(observed, null_arr, alternative), null_arr, alternative
    )


def _percentile_ci(reps: np.ndarray, level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError(f"level (config rq.ci_level) must lie in (0, 1), got {level}")
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_mean(
    x: np.ndarray,
    n_bootstrap: int,
    rng: np.random.Generator,
    level: float = 0.95,
    block: int = DEFAULT_BLOCK,
    block_elements: int = BLOCK_ELEMENTS,
) -> BootstrapResult:
    """Bootstrap over users of ``mean(x)`` (NaN dropped first), percentile CI at ``level``."""
    b = _check_count(n_bootstrap, "n_bootstrap")
    x = _finite_1d(x, "x")
    if x.size == 0:
        return BootstrapResult(float("nan"), float("nan"), float("nan"), level, np.empty(0))
    reps = np.empty(b)
    done = 0
    for size in _blocks(b, block_rows(block, x.size, block_elements)):
        reps[done : done + size] = x[bootstrap_indices(rng, x.size, size)].mean(axis=1)
        done += size
    lo, hi = _percentile_ci(reps, level)
    return BootstrapResult(float(x.mean()), lo, hi, level, reps)


def bootstrap_mean_loop(
    x: np.ndarray, n_bootstrap: int, rng: np.random.Generator, level: float = 0.95
) -> BootstrapResult:
    """Naive reference of :func:`bootstrap_mean` (Python loop over resamples and users)."""
    x = _finite_1d(x, "x")
    n = x.size
    reps = []
    for _ in range(n_bootstrap):
        u = rng.random(n)
        total = 0.0
        for i in range(n):
            total += x[min(int(u[i] * n), n - 1)]
        reps.append(total / n)
    reps_arr = np.array(reps)
    lo, hi = _percentile_ci(reps_arr, level)
    return BootstrapResult(float(x.mean()), lo, hi, level, reps_arr)


# --- slopes (H4) -------------------------------------------------------------------------------


def _slope_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slope of y on x for every row of (B, n) arrays: cov(x, y) / var(x) (NaN if var 0)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    sxx = (xc * xc).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sxx > 0, (xc * yc).sum(axis=-1) / np.where(sxx > 0, sxx, 1.0), np.nan)


def _finite_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def bootstrap_slope(
    x: np.ndarray,
    y: np.ndarray,
    n_bootstrap: int,
    rng: np.random.Generator,
    level: float = 0.95,
    block: int = DEFAULT_BLOCK,
    block_elements: int = BLOCK_ELEMENTS,
) -> BootstrapResult:
    """Pairs bootstrap over users of the OLS slope of ``y`` on ``x`` (rows with NaN dropped)."""
    b = _check_count(n_bootstrap, "n_bootstrap")
    x, y = _finite_pair(x, y)
    if x.size < 3:
        return BootstrapResult(float("nan"), float("nan"), float("nan"), level, np.empty(0))
    reps = np.empty(b)
    done = 0
    for size in _blocks(b, block_rows(block, x.size, block_elements)):
        idx = bootstrap_indices(rng, x.size, size)
        reps[done : done + size] = _slope_rows(x[idx], y[idx])
        done += size
    lo, hi = _percentile_ci(reps, level)
    return BootstrapResult(float(_slope_rows(x, y)), lo, hi, level, reps)


def slope_permutation_test(
    x: np.ndarray,
    y: np.ndarray,
    n_permutations: int,
    rng: np.random.Generator,
    alternative: str = "two-sided",
    block: int = DEFAULT_BLOCK,
    block_elements: int = BLOCK_ELEMENTS,
) -> PermutationResult:
    """Permutation test of ``slope = 0``: shuffle ``x`` across users (exact under independence)."""
    b = _check_count(n_permutations, "n_permutations")
    x, y = _finite_pair(x, y)
    if x.size < 3:
        return PermutationResult(float("nan"), float("nan"), np.empty(0), alternative)
    observed = float(_slope_rows(x, y))
    null = np.empty(b)
    done = 0
    for size in _blocks(b, block_rows(block, x.size, block_elements)):
        perm = permutation_indices(rng, x.size, size)
        null[done : done + size] = _slope_rows(x[perm], np.broadcast_to(y, perm.shape))
        done += size
    return PermutationResult(
        observed, permutation_p_value(observed, null, alternative), null, alternative
    )
