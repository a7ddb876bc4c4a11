"""Contextual bandits over a grid of content-type mixes (the CB policy, STUDY 6.3).

Arms are points of the type simplex (:func:`simplex_grid`); the chosen arm is the target ``p`` of
the calibrated greedy slate builder. Every policy has the same estimator-style interface:

* ``fit(X, arms, rewards) -> self``: (re)fit on all logged rounds so far;
* ``predict_reward(X) -> (n, n_arms)``: the policy's reward estimate (posterior mean) per arm;
* ``action_dist(X) -> (n, n_arms)``: probability of playing each arm (rows sum to one);
* ``sample(X, rng) -> (arms, pscore)``: play one arm per row; ``pscore`` is the logged propensity.

Policies
--------
* :class:`EpsilonGreedy` (Feijer et al. 2025): a scikit-learn reward model
  ``f(x, a) ~ P(r | x, a)``; plays ``argmax_a f(x, a)`` with probability ``1 - eps`` and a uniform
  arm with probability ``eps``: ``pi(a|x) = 1 - eps + eps/A`` for the argmax (lowest index on
  ties), ``eps/A`` otherwise (exact propensities). Before the first ``fit`` it plays uniformly.
* :class:`LinUCB` (Li et al. 2010, disjoint): per arm a ridge regression on ``z = [x, 1]``,
  ``A_a = ridge I + sum z z^T``, ``theta_a = A_a^{-1} sum r z``; plays
  ``argmax_a z^T theta_a + alpha sqrt(z^T A_a^{-1} z)``. Deterministic: ``action_dist`` is one-hot
  and ``pscore = 1`` (usable as a target policy, not as a logging policy for OPE).
* :class:`LinearThompson` (Agrawal & Goyal 2013): Gaussian posterior ``theta_a ~ N(theta_a,
  v^2 A_a^{-1})`` per arm; each round draws the score ``z^T theta~_a ~ N(z^T theta_a,
  v^2 z^T A_a^{-1} z)`` and plays the argmax. Its action probabilities have no closed form and are
  estimated by Monte Carlo with ``n_mc`` draws from a Generator seeded with ``random_state``
  (``action_dist``); ``sample`` reports ``pscore = (1 + #wins of the played arm in n_mc fresh
  draws) / (n_mc + 1)``, which is never zero.

Multi-objective reward: :func:`multi_objective_reward` ``r = (1 - w) stream + w long_term`` (e.g.
long term = next-day return), in [0, 1] when both parts are. Classifier reward models fit fractional
rewards in [0, 1] as a weighted logistic (each row twice: label 1 with weight ``r``, label 0 with
weight ``1 - r``), which estimates ``E[r | x, a]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.special import expit

__all__ = [
    "EpsilonGreedy",
    "LinUCB",
    "LinearThompson",
    "arm_features",
    "multi_objective_reward",
    "run_online",
    "simplex_grid",
]


def simplex_grid(n_types: int, step: float) -> np.ndarray:
    """All type mixes whose shares are multiples of ``step``: ``(n_arms, n_types)``, rows sum to 1.

    ``n_arms = C(1/step + n_types - 1, n_types - 1)``: 11 arms for 2 types and step 0.1, 21 for 3
    types and step 0.2. Order: lexicographic with the *last* type's share as the slowest key, then
    the one before it, ...; for two types arm ``i`` is ``(1 - i step, i step)``.
    """
    n_types = int(n_types)
    if n_types < 1:
        raise ValueError(f"n_types must be >= 1, got {n_types}")
    m = round(1.0 / float(step))
    if m < 1 or abs(m * float(step) - 1.0) > 1e-9:
        raise ValueError(f"step must be 1/m for a positive integer m, got {step}")
    comps = [c for c in itertools.product(range(m + 1), repeat=n_types) if sum(c) == m]
    arr = np.asarray(comps, dtype=np.int64)
    arr = arr[np.lexsort(tuple(arr[:, g] for g in range(n_types)))]
    return arr / m


def multi_objective_reward(stream: ArrayLike, long_term: ArrayLike, weight: float) -> np.ndarray:
    """Scalarised reward ``r = (1 - weight) * stream + weight * long_term``, ``weight`` in [0, 1].

    ``stream`` is the immediate reward (a stream >= 30 s), ``long_term`` a proxy such as next-day
    return; both shaped ``(n,)``.
    """
    s = np.asarray(stream, dtype=np.float64)
    lt = np.asarray(long_term, dtype=np.float64)
    if s.shape != lt.shape or s.ndim != 1:
        raise ValueError(
            f"stream and long_term must be 1-D of equal length, got {s.shape}, {lt.shape}"
        )
    w = float(weight)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"weight must lie in [0, 1], got {weight}")
    return (1.0 - w) * s + w * lt


def _check_X(X: ArrayLike) -> np.ndarray:
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("X must hold finite values")
    return x


def _check_arms(arms: ArrayLike, n: int, n_arms: int) -> np.ndarray:
    a = np.asarray(arms)
    if a.shape != (n,):
        raise ValueError(f"arms must have shape ({n},), got {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError("arms must hold integer arm indices")
    a = a.astype(np.int64)
    if a.size and (a.min() < 0 or a.max() >= n_arms):
        raise ValueError(f"arms must lie in 0..{n_arms - 1}")
    return a


def _check_rewards(rewards: ArrayLike, n: int) -> np.ndarray:
    r = np.asarray(rewards, dtype=np.float64)
    if r.shape != (n,):
        raise ValueError(f"rewards must have shape ({n},), got {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("rewards must hold finite values")
    return r


def arm_features(
    X: ArrayLike, arms: ArrayLike, n_arms: int, kind: str = "interaction"
) -> sp.csr_matrix | np.ndarray:
    """Features ``phi(x, a)`` of the reward model.

    * ``"interaction"`` (sparse CSR, for linear models): ``[x, onehot(a), x (x) onehot(a)]``, i.e. a
      shared slope, an arm intercept and an arm-specific slope; ``d + A + d A`` columns.
    * ``"onehot"`` (dense, for trees): ``[x, onehot(a)]``.
    """
    x = _check_X(X)
    n, d = x.shape
    a = _check_arms(arms, n, n_arms)
    if kind == "onehot":
        out = np.zeros((n, d + n_arms))
        out[:, :d] = x
        out[np.arange(n), d + a] = 1.0
        return out
    if kind != "interaction":
        raise ValueError(f"kind must be 'interaction' or 'onehot', got {kind!r}")
    width = 2 * d + 1
    cols = np.empty((n, width), dtype=np.int64)
    cols[:, :d] = np.arange(d)
    cols[:, d] = d + a
    cols[:, d + 1 :] = d + n_arms + a[:, None] * d + np.arange(d)
    data = np.empty((n, width))
    data[:, :d] = x
    data[:, d] = 1.0
    data[:, d + 1 :] = x
    indptr = np.arange(0, n * width + 1, width)
    return sp.csr_matrix((data.ravel(), cols.ravel(), indptr), shape=(n, d + n_arms + d * n_arms))


def _sample_from_dist(dist: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One arm per row by inverse CDF (one uniform per row); returns (arms, their probabilities)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator")
    n, n_arms = dist.shape
    u = rng.random(n)
    arms = np.minimum(np.sum(np.cumsum(dist, axis=1) <= u[:, None], axis=1), n_arms - 1)
    # a zero-probability arm can only be reached through rounding at the top: step back
    for _ in range(n_arms):
        zero = dist[np.arange(n), arms] <= 0
        if not zero.any():
            break
        arms = np.where(zero & (arms > 0), arms - 1, arms)
    return arms, dist[np.arange(n), arms]


def _argmax_onehot(scores: np.ndarray) -> np.ndarray:
    out = np.zeros_like(scores)
    out[np.arange(scores.shape[0]), np.argmax(scores, axis=1)] = 1.0
    return out


class _Constant:
    """Reward model that predicts one value (all logged rewards were equal)."""

    def __init__(self, value: float) -> None:
        self.value = float(value)


class EpsilonGreedy:
    """Epsilon-greedy contextual bandit with a scikit-learn reward model ``f(x, a)``.

    Parameters
    ----------
    reward_model : "logistic" | "gbm" | scikit-learn estimator
        ``"logistic"``: ``LogisticRegression(C=1, max_iter=1000)`` on interaction features;
        ``"gbm"``: ``HistGradientBoostingClassifier`` (100 trees of depth 3, learning rate 0.1,
        at least 50 rows a leaf) on ``[x, onehot(a)]``; an estimator is
        cloned (a classifier's positive class is 1; a regressor predicts the reward).
    epsilon : float in [0, 1]
        Exploration rate.
    n_arms : int
        Number of arms (e.g. ``len(simplex_grid(...))``).
    features : "interaction" | "onehot" | None
        Feature map (:func:`arm_features`); default per model (see above; estimators: interaction).
    random_state : int | None
        Seeds the reward model (gradient boosting).
    """

    def __init__(
        self,
        reward_model: str | Any = "logistic",
        epsilon: float = 0.1,
        *,
        n_arms: int,
        features: str | None = None,
        random_state: int | None = None,
    ) -> None:
        self.reward_model = reward_model
        self.epsilon = float(epsilon)
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
        self.n_arms = int(n_arms)
        if self.n_arms < 1:
            raise ValueError(f"n_arms must be >= 1, got {n_arms}")
        self.features = features
        self.random_state = random_state

    def _build_model(self) -> tuple[Any, str]:
        # scikit-learn is imported on use: `import prefcal.policies` stays fast
        from sklearn.base import clone
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression

        spec = self.reward_model
        if isinstance(spec, str):
            if spec == "logistic":
                return LogisticRegression(C=1.0, max_iter=1000), self.features or "interaction"
            if spec == "gbm":
                model = HistGradientBoostingClassifier(
                    max_iter=100,
                    learning_rate=0.1,
                    max_depth=3,
                    min_samples_leaf=50,
                    early_stopping=False,
                    random_state=self.random_state,
                )
                return model, self.features or "onehot"
            raise ValueError(
                f"reward_model must be 'logistic', 'gbm' or an estimator, got {spec!r}"
            )
        model = clone(spec)
        if self.random_state is not None and "random_state" in model.get_params():
            model.set_params(random_state=self.random_state)
        return model, self.features or "interaction"

    def fit(self, X: ArrayLike, arms: ArrayLike, rewards: ArrayLike) -> EpsilonGreedy:
        """Fit the reward model on logged rounds ``(x_i, a_i, r_i)``."""
        from sklearn.base import is_classifier

        x = _check_X(X)
        n = x.shape[0]
        a = _check_arms(arms, n, self.n_arms)
        r = _check_rewards(rewards, n)
        if n == 0:
            raise ValueError("fit needs at least one logged round")
        model, kind = self._build_model()
        self.n_features_in_ = x.shape[1]
        self.kind_ = kind
        phi = arm_features(x, a, self.n_arms, kind)
        if is_classifier(model):
            if np.any((r < 0) | (r > 1)):
                raise ValueError("a classifier reward model needs rewards in [0, 1]")
            pos, neg = r.sum(), (1.0 - r).sum()
            if pos <= 0 or neg <= 0:
                self.model_ = _Constant(r.mean())
                return self
            if np.all((r == 0) | (r == 1)):
                model.fit(phi, r.astype(np.int64))
            else:
                stack = sp.vstack if sp.issparse(phi) else np.vstack
                y = np.concatenate([np.ones(n, np.int64), np.zeros(n, np.int64)])
                model.fit(stack([phi, phi]), y, sample_weight=np.concatenate([r, 1.0 - r]))
        else:
            model.fit(phi, r)
        self.model_ = model
        return self

    def predict_reward(self, X: ArrayLike) -> np.ndarray:
        """Estimated reward ``f(x_i, a)`` of every arm: ``(n, n_arms)``; zeros before ``fit``."""
        from sklearn.base import is_classifier
        from sklearn.linear_model import LogisticRegression

        x = _check_X(X)
        n = x.shape[0]
        if not hasattr(self, "model_"):
            return np.zeros((n, self.n_arms))
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[1]} columns, the model was fitted on {self.n_features_in_}"
            )
        model = self.model_
        if isinstance(model, _Constant):
            return np.full((n, self.n_arms), model.value)
        if isinstance(model, LogisticRegression) and self.kind_ == "interaction":
            # closed form of predict_proba for phi = [x, onehot(a), x (x) onehot(a)]
            d, n_arms = x.shape[1], self.n_arms
            coef = model.coef_[0]
            sign = 1.0 if model.classes_[1] == 1 else -1.0
            slope = coef[:d][:, None] + coef[d + n_arms :].reshape(n_arms, d).T  # (d, A)
            logits = x @ slope + coef[d : d + n_arms] + model.intercept_[0]
            return expit(sign * logits)
        out = np.empty((n, self.n_arms))
        chunk = max(1, 2_000_000 // (2 * x.shape[1] + self.n_arms + 1))
        for a in range(self.n_arms):
            for lo in range(0, n, chunk):
                xb = x[lo : lo + chunk]
                phi = arm_features(xb, np.full(xb.shape[0], a), self.n_arms, self.kind_)
                if is_classifier(model):
                    col = list(model.classes_).index(1)
                    out[lo : lo + chunk, a] = model.predict_proba(phi)[:, col]
                else:
                    out[lo : lo + chunk, a] = model.predict(phi)
        return out

    def action_dist(self, X: ArrayLike) -> np.ndarray:
        """Exact ``pi(a|x)``: ``1 - eps + eps/A`` on the argmax arm (lowest index on ties),
        ``eps/A`` elsewhere; uniform before the first ``fit``. Shape ``(n, n_arms)``."""
        x = _check_X(X)
        if not hasattr(self, "model_"):
            return np.full((x.shape[0], self.n_arms), 1.0 / self.n_arms)
        greedy = _argmax_onehot(self.predict_reward(x))
        return (1.0 - self.epsilon) * greedy + self.epsilon / self.n_arms

    def sample(self, X: ArrayLike, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Play one arm per row (one uniform per row from ``rng``); returns ``(arms, pscore)``."""
        return _sample_from_dist(self.action_dist(X), rng)


class _LinearArms:
    """Disjoint ridge regressions per arm on ``z = [x, 1]`` (shared by LinUCB and Thompson)."""

    def __init__(self, n_arms: int, ridge: float, fit_intercept: bool) -> None:
        self.n_arms = int(n_arms)
        if self.n_arms < 1:
            raise ValueError(f"n_arms must be >= 1, got {n_arms}")
        self.ridge = float(ridge)
        if not self.ridge > 0:
            raise ValueError(f"ridge must be positive, got {ridge}")
        self.fit_intercept = bool(fit_intercept)

    def _z(self, X: ArrayLike) -> np.ndarray:
        x = _check_X(X)
        if self.fit_intercept:
            x = np.hstack([x, np.ones((x.shape[0], 1))])
        if hasattr(self, "theta_") and x.shape[1] != self.theta_.shape[1]:
            raise ValueError("X has a different number of columns than the data the policy saw")
        return x

    def _prior(self, dim: int) -> None:
        self.theta_ = np.zeros((self.n_arms, dim))
        self.a_inv_ = np.broadcast_to(np.eye(dim) / self.ridge, (self.n_arms, dim, dim)).copy()

    def fit(self, X: ArrayLike, arms: ArrayLike, rewards: ArrayLike) -> _LinearArms:
        """Ridge posterior per arm from all logged rounds (replaces any earlier fit)."""
        z = self._z(X)
        n, dim = z.shape
        a = _check_arms(arms, n, self.n_arms)
        r = _check_rewards(rewards, n)
        gram = np.broadcast_to(self.ridge * np.eye(dim), (self.n_arms, dim, dim)).copy()
        b = np.zeros((self.n_arms, dim))
        for arm in range(self.n_arms):  # a loop over the few arms; rows are vectorised
            za = z[a == arm]
            gram[arm] += za.T @ za
            b[arm] = za.T @ r[a == arm]
        self.a_inv_ = np.linalg.inv(gram)
        self.theta_ = np.einsum("ade,ae->ad", self.a_inv_, b)
        return self

    def _mean_sd(self, X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        z = self._z(X)
        if not hasattr(self, "theta_"):
            self._prior(z.shape[1])
        mean = z @ self.theta_.T
        var = np.empty_like(mean)
        for arm in range(self.n_arms):
            var[:, arm] = np.sum((z @ self.a_inv_[arm]) * z, axis=1)
        return mean, np.sqrt(np.maximum(var, 0.0))

    def predict_reward(self, X: ArrayLike) -> np.ndarray:
        """Posterior mean reward ``z^T theta_a`` per arm, ``(n, n_arms)``."""
        return self._mean_sd(X)[0]


class LinUCB(_LinearArms):
    """Disjoint LinUCB: plays ``argmax_a z^T theta_a + alpha sqrt(z^T A_a^{-1} z)``, ``z = [x, 1]``.

    Deterministic (ties to the lowest arm): ``action_dist`` is one-hot and ``sample`` returns
    ``pscore = 1`` without drawing from ``rng``.
    """

    def __init__(
        self, alpha: float = 1.0, *, n_arms: int, ridge: float = 1.0, fit_intercept: bool = True
    ) -> None:
        super().__init__(n_arms, ridge, fit_intercept)
        self.alpha = float(alpha)
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")

    def ucb(self, X: ArrayLike) -> np.ndarray:
        """Upper confidence bound of every arm, ``(n, n_arms)``."""
        mean, sd = self._mean_sd(X)
        return mean + self.alpha * sd

    def action_dist(self, X: ArrayLike) -> np.ndarray:
        """One-hot on the UCB argmax, ``(n, n_arms)``."""
        return _argmax_onehot(self.ucb(X))

    def sample(self, X: ArrayLike, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(argmax UCB, ones)``; ``rng`` is accepted for interface compatibility and not used."""
        arms = np.argmax(self.ucb(X), axis=1).astype(np.int64)
        return arms, np.ones(arms.size)


class LinearThompson(_LinearArms):
    """Linear Thompson sampling with a Gaussian posterior per arm (see module docstring).

    Parameters
    ----------
    v : float
        Posterior scale: ``theta~_a ~ N(theta_a, v^2 A_a^{-1})``.
    n_arms, ridge, fit_intercept
        As in :class:`LinUCB`.
    n_mc : int
        Monte Carlo draws for ``action_dist`` and ``pscore``.
    random_state : int | None
        Seed of the Generator that ``action_dist`` uses (fresh each call: same X, same output).
    """

    def __init__(
        self,
        v: float = 1.0,
        *,
        n_arms: int,
        ridge: float = 1.0,
        fit_intercept: bool = True,
        n_mc: int = 100,
        random_state: int | None = None,
    ) -> None:
        super().__init__(n_arms, ridge, fit_intercept)
        self.v = float(v)
        if self.v < 0:
            raise ValueError(f"v must be >= 0, got {v}")
        self.n_mc = int(n_mc)
        if self.n_mc < 1:
            raise ValueError(f"n_mc must be >= 1, got {n_mc}")
        self.random_state = random_state

    def _draw_argmax(
        self, mean: np.ndarray, sd: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        return np.argmax(mean + self.v * sd * rng.standard_normal(mean.shape), axis=1)

    def action_dist(self, X: ArrayLike) -> np.ndarray:
        """Monte Carlo estimate of ``P(arm a has the largest sampled score | x)``: ``(n, A)``.

        ``pi(a | x_i) = (1 / M) sum_m 1[a = argmax_b (mu_ib + v s_ib z_mb)]`` with ``M = n_mc``
        standard-normal draws ``z (M, A)`` from ``default_rng(random_state)`` shared by every row
        (common random numbers): a row's probabilities do not depend on the other rows of ``X``,
        so the policy gives the same answer on a user's requests whatever they are batched with.
        """
        mean, sd = self._mean_sd(X)
        z = np.random.default_rng(self.random_state).standard_normal((self.n_mc, self.n_arms))
        n = mean.shape[0]
        counts = np.zeros((n, self.n_arms))
        rows = np.arange(n)
        for zm in z:
            counts[rows, np.argmax(mean + self.v * sd * zm, axis=1)] += 1.0
        return counts / self.n_mc

    def sample(self, X: ArrayLike, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Thompson draw per row; ``pscore = (1 + wins in n_mc more draws) / (n_mc + 1)``."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a numpy.random.Generator")
        mean, sd = self._mean_sd(X)
        arms = self._draw_argmax(mean, sd, rng).astype(np.int64)
        wins = np.ones(arms.size)
        for _ in range(self.n_mc):
            wins += self._draw_argmax(mean, sd, rng) == arms
        return arms, wins / (self.n_mc + 1)


def run_online(
    bandit: Any,
    X: ArrayLike,
    reward_fn: Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray],
    batch_size: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Play ``bandit`` on the rows of ``X`` in order, in batches, refitting after every batch.

    For each batch: ``arms, pscore = bandit.sample(X_batch, rng)``; ``reward =
    reward_fn(X_batch, arms, rng)``; then ``bandit.fit`` on all rounds so far. Returns the log
    ``{"arms", "pscore", "reward"}`` (each ``(n,)``): the logging policy's propensities are those of
    the model fitted before the batch.
    """
    x = _check_X(X)
    n = x.shape[0]
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    arms = np.empty(n, dtype=np.int64)
    pscore = np.empty(n)
    reward = np.empty(n)
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        arms[lo:hi], pscore[lo:hi] = bandit.sample(x[lo:hi], rng)
        reward[lo:hi] = _check_rewards(reward_fn(x[lo:hi], arms[lo:hi], rng), hi - lo)
        bandit.fit(x[:hi], arms[:hi], reward[:hi])
    return {"arms": arms, "pscore": pscore, "reward": reward}
