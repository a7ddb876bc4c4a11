r"""Reward models of the CB policy: scikit-learn estimators for :class:`EpsilonGreedy`.

``evaluation.cb.reward_model`` chooses one:

``logistic``
    :class:`~prefcal.policies.EpsilonGreedy`'s default: logistic regression on
    ``[x, onehot(a), x (x) onehot(a)]`` (a separate slope per arm; ``d + A + d A`` coefficients).
``logistic_mix``
    logistic regression with context x arm interactions where the arm enters through its type mix
    ``m_a`` (a point of the simplex) instead of a one-hot code:

    .. math:: \mathrm{logit}\, f(x, a) = \beta_0 + \beta^\top x + \sum_g m_{ag} (\gamma_g +
              \delta_g^\top x) + \sum_g \eta_g m_{ag}^2,

    so neighbouring arms share strength (``(G + 1)(d + 1) + G`` coefficients whatever the grid),
    and the quadratic terms let the value of a type's share saturate (a best mix inside the
    simplex). Inputs are standardised first (the L2 penalty ``1 / C`` treats features alike).
    Implemented as :class:`MixLogistic`, a scikit-learn classifier over the ``[x, onehot(a)]``
    features that :class:`EpsilonGreedy` builds with ``features="onehot"``.
``gbm``
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier` on ``[x, onehot(a)]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from prefcal.policies import EpsilonGreedy

__all__ = [
    "REWARD_MODELS",
    "MixLogistic",
    "epsilon_greedy_dist",
    "make_epsilon_greedy",
    "mix_features",
    "mix_logistic",
]

REWARD_MODELS = ("logistic", "logistic_mix", "gbm")


def mix_features(phi: np.ndarray, arms: np.ndarray) -> np.ndarray:
    """``[x, m_a, m_a (x) x, m_a^2]`` from ``phi = [x, onehot(a)]`` (``arms (A, G)`` the grid)."""
    arms = np.asarray(arms, dtype=np.float64)
    n_arms = arms.shape[0]
    phi = np.asarray(phi, dtype=np.float64)
    x = phi[:, : phi.shape[1] - n_arms]
    m = phi[:, phi.shape[1] - n_arms :] @ arms
    inter = (m[:, :, None] * x[:, None, :]).reshape(x.shape[0], -1)
    return np.hstack([x, m, inter, m * m])


class MixLogistic(ClassifierMixin, BaseEstimator):
    """The ``logistic_mix`` estimator (module docstring) on ``[x, onehot(a)]`` features.

    Parameters
    ----------
    arms : (A, G) array
        The arm grid (row ``a`` = the mix of arm ``a``).
    C : float
        Inverse L2 penalty of the logistic regression.
    """

    def __init__(self, arms: np.ndarray | None = None, C: float = 1.0) -> None:
        self.arms = arms
        self.C = C

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> MixLogistic:
        """Standardise :func:`mix_features` and fit a logistic regression (weights allowed)."""
        z = mix_features(X, np.asarray(self.arms))
        self.scaler_ = StandardScaler().fit(z, sample_weight=sample_weight)
        self.model_ = LogisticRegression(C=float(self.C), max_iter=2000)
        self.model_.fit(self.scaler_.transform(z), y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, 2)``."""
        return self.model_.predict_proba(self.scaler_.transform(mix_features(X, self.arms)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most likely class."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_arms(self, x: np.ndarray) -> np.ndarray:
        """``P(r = 1 | x_i, a)`` for every context row and every arm at once, ``(n, A)``.

        The standardised logistic model is linear in ``[x, m, m (x) x, m^2]``, so with
        ``v = coef / scale`` the logit is ``x . v_x + m_a . v_m + (x V_mx^T) m_a + m_a^2 . v_m2 +
        const``: two small matrix products instead of one prediction per arm.
        """
        x = np.asarray(x, dtype=np.float64)
        arms = np.asarray(self.arms, dtype=np.float64)
        n_types = arms.shape[1]
        d = x.shape[1]
        w = self.model_.coef_[0]
        sign = 1.0 if self.classes_[1] == 1 else -1.0
        v = w / self.scaler_.scale_
        const = float(self.model_.intercept_[0] - np.dot(v, self.scaler_.mean_))
        v_x, v_m = v[:d], v[d : d + n_types]
        v_mx = v[d + n_types : d + n_types + n_types * d].reshape(n_types, d)
        v_m2 = v[d + n_types + n_types * d :]
        logit = (
            (x @ v_x)[:, None]
            + (x @ v_mx.T) @ arms.T
            + (arms @ v_m + (arms * arms) @ v_m2)[None, :]
            + const
        )
        return expit(sign * logit)


def mix_logistic(arms: np.ndarray, C: float = 1.0) -> MixLogistic:
    """The ``logistic_mix`` estimator for an arm grid ``arms (A, G)``."""
    return MixLogistic(np.asarray(arms, dtype=np.float64), C)


def make_epsilon_greedy(
    reward_model: str, epsilon: float, arms: np.ndarray, random_state: int | None
) -> EpsilonGreedy:
    """An unfitted :class:`EpsilonGreedy` over ``arms`` with the named reward model."""
    n_arms = int(np.asarray(arms).shape[0])
    spec: Any
    if reward_model == "logistic_mix":
        spec, features = mix_logistic(arms), "onehot"
    elif reward_model in ("logistic", "gbm"):
        spec, features = reward_model, None
    else:
        raise ValueError(
            f"config key evaluation.cb.reward_model: {reward_model!r} is not one of "
            f"{list(REWARD_MODELS)}"
        )
    return EpsilonGreedy(spec, epsilon, n_arms=n_arms, features=features, random_state=random_state)


def epsilon_greedy_dist(eg: EpsilonGreedy, x: np.ndarray) -> np.ndarray:
    """``eg.action_dist(x)``, with the one-shot :meth:`MixLogistic.predict_arms` when it applies.

    Same values as :meth:`EpsilonGreedy.action_dist`: ``1 - eps + eps / A`` on the argmax arm
    (lowest index on ties), ``eps / A`` elsewhere.
    """
    model = getattr(eg, "model_", None)
    if not isinstance(model, MixLogistic):
        return eg.action_dist(x)
    reward = model.predict_arms(x)
    out = np.full(reward.shape, eg.epsilon / eg.n_arms)
    out[np.arange(reward.shape[0]), np.argmax(reward, axis=1)] += 1.0 - eg.epsilon
    return out
