r"""Off-policy estimates of each Home policy's stream rate from the epsilon-greedy logs.

Quantity
    The *stream rate* (overall impression-to-stream rate) of a policy ``pi`` on requests ``i``:
    ``V(pi) = (1 / (n K)) sum_i E_pi[streams_i]``. Its TRUE value comes from the environment
    (:func:`prefcal.home.online.expected_outcomes`), the estimates from the logged slates only.

Item-level position-based correction (Li et al. 2018; Semerci et al. 2019)
    Under the environment's position-based model a logged slot ``k`` holding candidate ``j`` is
    streamed with probability ``theta_k gamma_j(x)`` (``theta_k`` the known examination
    probability of the slot, :attr:`HomeEnvironment.examination`), so
    ``E_pi[streams] = sum_j e_pi(j) gamma_j`` with the exposure ``e_pi(j) = sum_k theta_k
    P_pi(j at k)``. Every policy of the study only shows the top ``K`` candidates of each type, a
    fixed action set of ``J = G K`` *action ids*. With ``m_0(j) = P_0(j in slate)`` the logging
    policy's containment (exact: the logger is a known mixture of arm slates) and
    ``Theta = sum_k theta_k``, each logged slot ``(i, k)`` becomes one row of Open Bandit
    Pipeline's arguments (``len_list = 1``):

    ====================================  ================================================
    ``action``                            the logged action id ``j_ik``
    ``reward``                            ``r_ik Theta / (K theta_k)``
    ``pscore``                            ``m_0(j_ik | x_i) / K`` (sums to one over ``j``)
    ``action_dist[:, j, 0]``              ``e_pi(j | x_i) / Theta`` (sums to one over ``j``)
    ``estimated_rewards_by_reg_model``    ``Theta gamma^(x_i, j) / K``
    ====================================  ================================================

    so that ``w r = e_pi(j) r / (theta_k m_0(j))`` and the mean over the ``n K`` rows of the
    unchanged :mod:`prefcal.ope` estimators is an estimate of ``V(pi)``: IPW is unbiased when every
    item the target shows is shown by the logger in *some* slot (``m_0 > 0``), the weights average
    to one over the rows of a slate (so SNIPW and SNDR normalise correctly), DM is
    ``(1 / (nK)) sum_i sum_j e_pi(j) gamma^_j`` and DR adds ``w (r' - q^)`` with residual
    ``(e_pi / (theta_k m_0)) (r_ik - theta_k gamma^_j)``. Share of the target's exposure on items
    the logger never shows is reported as ``unsupported`` (a source of bias).

Reward model (DM / DR)
    :class:`PBMLogistic`: ``gamma^(x, j) = sigma(phi(x, j)^T beta)`` with
    ``phi = [onehot(t_j) (x) [1, x~], rel_j, rel_j onehot(t_j)]`` (``x~`` the standardised
    context, ``rel`` the ranker score), fitted on the TRAINING logs by maximising the PBM likelihood
    ``prod r log(theta_k gamma) + (1 - r) log(1 - theta_k gamma)`` with an L2 penalty
    (``evaluation.ope.ridge``) by L-BFGS.

Intervals
    Percentile bootstrap over *users* (all slots of all a user's requests move together), with the
    estimators' parts (``mean(a) + sum(b) / sum(c)``, :data:`prefcal.ope.estimators.PARTS`) summed
    per user, so every replicate is a matrix product (no refit of the reward model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from prefcal.evaluation.lifts import bootstrap_multiplicities
from prefcal.ope import dm, dr, dr_os, ipw, sndr, snipw, switch_dr
from prefcal.ope.estimators import PARTS

__all__ = [
    "ESTIMATORS",
    "PBMLogistic",
    "SlotData",
    "ope_from_parts",
    "ope_user_parts",
    "slot_data",
]

ESTIMATORS = {
    "IPW": ipw,
    "SNIPW": snipw,
    "DM": dm,
    "DR": dr,
    "SNDR": sndr,
    "Switch-DR": switch_dr,
    "DR-OS": dr_os,
}
_LAMBDA = {"Switch-DR", "DR-OS"}


class PBMLogistic:
    """Attraction model ``gamma(x, j)`` fitted under the position-based model (module docstring).

    The features ``phi = [onehot(t_j) (x) [1, x~], rel_j, rel_j onehot(t_j)]`` are never built:
    with ``B (G, d + 1)`` the per-type coefficients, ``z_ij = [1, x~_i] . B[t_j] + rel_ij (c_0 +
    c[t_j])``, computed as one ``(n, d + 1) @ (d + 1, G)`` product.

    Parameters
    ----------
    n_types : int
        G.
    ridge : float
        L2 penalty on every coefficient except the type intercepts.
    """

    def __init__(self, n_types: int, ridge: float = 1.0) -> None:
        self.n_types = int(n_types)
        self.ridge = float(ridge)

    def _xb(self, X: np.ndarray) -> np.ndarray:
        x = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        return np.hstack([np.ones((x.shape[0], 1)), x])

    def _unpack(self, beta: np.ndarray, d1: int) -> tuple[np.ndarray, float, np.ndarray]:
        g = self.n_types
        return beta[: g * d1].reshape(g, d1), float(beta[g * d1]), beta[g * d1 + 1 :]

    def fit(
        self,
        X: np.ndarray,
        relevance: np.ndarray,
        item_type: np.ndarray,
        slates: np.ndarray,
        streamed: np.ndarray,
        theta: np.ndarray,
    ) -> PBMLogistic:
        """Fit on logged slates ``(n, K)`` of action ids with their streams ``(n, K)``."""
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        sd = X.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        xb = self._xb(X)
        n, d1 = xb.shape
        k = slates.shape[1]
        g_types = self.n_types
        t = np.asarray(item_type)[slates]  # (n, K)
        rel = np.take_along_axis(relevance, slates, axis=1)
        onehot = t[:, :, None] == np.arange(g_types)[None, None, :]  # (n, K, G)
        r = streamed.astype(np.float64)
        th = np.broadcast_to(theta[None, :k], (n, k))
        penal = np.ones(g_types * d1 + 1 + g_types)
        penal[np.arange(g_types) * d1] = 0.0  # type intercepts
        lam = self.ridge
        rows = np.arange(n)[:, None]

        def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
            b, c0, c = self._unpack(beta, d1)
            z = (xb @ b.T)[rows, t] + rel * (c0 + c[t])
            s = expit(z)
            p = np.clip(th * s, 1e-12, 1 - 1e-12)
            ll = r * np.log(p) + (1 - r) * np.log1p(-p)
            # d ll / d z = r (1 - s) - (1 - r) th s (1 - s) / (1 - th s)
            gz = r * (1 - s) - (1 - r) * th * s * (1 - s) / (1 - p)
            by_type = np.einsum("nk,nkg->ng", gz, onehot)
            grad_b = by_type.T @ xb  # (G, d + 1)
            grel = np.einsum("nk,nkg->g", gz * rel, onehot)
            grad = -np.concatenate([grad_b.ravel(), [grel.sum()], grel]) + lam * penal * beta
            obj = -ll.sum() + 0.5 * lam * np.sum(penal * beta * beta)
            return float(obj), grad

        res = minimize(
            loss, np.zeros(penal.size), jac=True, method="L-BFGS-B", options={"maxiter": 1000}
        )
        self.coef_ = res.x
        self.converged_ = bool(res.success)
        return self

    def predict(self, X: np.ndarray, relevance: np.ndarray, item_type: np.ndarray) -> np.ndarray:
        """``gamma^(x_i, j)`` for every request and action id, ``(n, J)``."""
        xb = self._xb(X)
        b, c0, c = self._unpack(self.coef_, xb.shape[1])
        t = np.asarray(item_type)
        return expit((xb @ b.T)[:, t] + relevance * (c0 + c[t])[None, :])


@dataclass
class SlotData:
    """Logged slots of the evaluation requests as obp arguments (before the target policy)."""

    reward: np.ndarray  # (n K,) r Theta / (K theta_k)
    action: np.ndarray  # (n K,)
    pscore: np.ndarray  # (n K,) m_0 / K
    request: np.ndarray  # (n K,) request row of each slot
    user: np.ndarray  # (n K,) user code of each slot
    n_users: int
    theta_sum: float
    k: int
    gamma_hat: np.ndarray  # (n, J)


def slot_data(
    slates: np.ndarray,
    streamed: np.ndarray,
    logger_containment: np.ndarray,
    theta: np.ndarray,
    gamma_hat: np.ndarray,
    user: np.ndarray,
) -> SlotData:
    """Rows of the module docstring's table for logged ``slates``/``streamed`` ``(n, K)``."""
    n, k = slates.shape
    big = theta.sum()
    req = np.repeat(np.arange(n), k)
    action = slates.reshape(-1)
    m0 = logger_containment[req, action]
    if np.any(m0 <= 0):
        raise ValueError("a logged item has zero logging containment: wrong logging policy?")
    reward = streamed.reshape(-1) * big / (k * np.tile(theta, n))
    codes, uniq = pd.factorize(pd.Series(np.asarray(user, dtype=object)))
    return SlotData(reward, action, m0 / k, req, codes[req], len(uniq), float(big), k, gamma_hat)


def _obp_args(sd: SlotData, exposure: np.ndarray) -> dict[str, np.ndarray]:
    # exposures may be computed with theta up to a constant (e.g. without the engagement factor):
    # only their shape matters, every full slate has total exposure sum_k theta_k
    dist = exposure / exposure.sum(axis=1, keepdims=True)
    return {
        "reward": sd.reward,
        "action": sd.action,
        "pscore": sd.pscore,
        "action_dist": dist[sd.request][:, :, None],
        "estimated_rewards_by_reg_model": (sd.theta_sum * sd.gamma_hat / sd.k)[sd.request][
            :, :, None
        ],
    }


def ope_user_parts(
    sd: SlotData,
    exposures: dict[str, np.ndarray],
    participants: Sequence[str],
    logger_containment: np.ndarray,
    lambda_: float,
    estimators: Sequence[str] = tuple(ESTIMATORS),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The estimators' parts summed per user, and per-policy weight sums: what
    :func:`ope_from_parts` needs, so the estimates can be made shard by shard.

    ``participants[u]`` is the id of user code ``u`` of ``sd``. Returns ``(users, policies)``:

    * ``users``, indexed by participant id (sorted): ``rows`` (logged slots of the user) and, for
      every policy ``p``, estimator ``e`` and part ``q`` in ``a, b, c`` it has
      (:class:`prefcal.ope.estimators.Parts`), the column ``p|e|q`` = ``sum`` of the part over the
      user's slots;
    * ``policies``, one row per policy: ``rows``, ``sum_w``, ``sum_w2``, ``max_w`` (importance
      weights ``w``), ``unsupported`` and ``exposure`` (exposure on items the logger never shows,
      and all exposure: their ratio is the unsupported share).
    """
    if len(participants) != sd.n_users:
        raise ValueError(f"need {sd.n_users} participant ids, got {len(participants)}")
    cols: dict[str, np.ndarray] = {
        "rows": np.bincount(sd.user, minlength=sd.n_users).astype(np.float64)
    }
    unsupported_mask = logger_containment <= 0
    pol_rows = []
    for policy, e in exposures.items():
        args = _obp_args(sd, e)
        w = args["action_dist"][np.arange(sd.action.size), sd.action, 0] / sd.pscore
        pol_rows.append(
            {
                "policy": policy,
                "rows": float(w.size),
                "sum_w": float(w.sum()),
                "sum_w2": float(np.dot(w, w)),
                "max_w": float(w.max()) if w.size else 0.0,
                "unsupported": float((e * unsupported_mask).sum()),
                "exposure": float(e.sum()),
            }
        )
        for name in estimators:
            fn = ESTIMATORS[name]
            kw = {"lambda_": lambda_} if name in _LAMBDA else {}
            parts = PARTS[fn](**args, **kw)
            for q in ("a", "b", "c"):
                v = getattr(parts, q)
                if v is not None:
                    cols[f"{policy}|{name}|{q}"] = np.bincount(
                        sd.user, weights=v, minlength=sd.n_users
                    )
    users = pd.DataFrame(cols, index=pd.Index(np.asarray(participants, dtype=object)))
    users.index.name = "participant_id"
    return users.sort_index(), pd.DataFrame(pol_rows)


def ope_from_parts(
    users: pd.DataFrame,
    policies: pd.DataFrame,
    true_values: dict[str, float],
    n_boot: int,
    level: float,
    random_state: int,
) -> pd.DataFrame:
    """Every estimator's estimate for every policy, with user-bootstrap intervals, from the
    per-user parts of :func:`ope_user_parts` (of all users, any number of shards concatenated).

    Estimate ``sum_u A_u / sum_u n_u + sum_u B_u / sum_u C_u`` (``A, B, C`` the user sums of
    the parts, ``n_u`` the user's slots); a bootstrap replicate weights every user by its
    multiplicity. Users are taken in sorted id order and the per-policy rows are summed, so the
    result does not depend on how users were split into shards. Columns: policy, estimator,
    estimate, lower, upper, true, rel_error (``estimate / true - 1``), abs_rel_error, ess_share
    (Kish ``(sum w)^2 / (n sum w^2)``), max_weight, unsupported. One multiplicity matrix (users)
    is drawn from ``default_rng(random_state)`` and shared by all policies and estimators.
    """
    users = users.sort_index()
    if not users.index.is_unique:
        raise ValueError("a participant appears in two shards' OPE parts")
    rng = np.random.default_rng(random_state)
    mult = bootstrap_multiplicities(len(users), int(n_boot), rng)
    alpha = 1.0 - float(level)
    n_rows = users["rows"].to_numpy(np.float64)
    rows_b = mult @ n_rows
    pol = policies.groupby("policy", sort=False).agg(
        rows=("rows", "sum"),
        sum_w=("sum_w", "sum"),
        sum_w2=("sum_w2", "sum"),
        max_w=("max_w", "max"),
        unsupported=("unsupported", "sum"),
        exposure=("exposure", "sum"),
    )
    out = []
    for policy, d in pol.iterrows():
        ess = d["sum_w"] ** 2 / d["sum_w2"] if d["sum_w2"] > 0 else 0.0
        for name in ESTIMATORS:
            col = f"{policy}|{name}|"
            if col + "a" not in users and col + "b" not in users:
                continue
            est, rep = 0.0, np.zeros(mult.shape[0])
            if col + "a" in users:
                a = users[col + "a"].to_numpy(np.float64)
                est += a.sum() / n_rows.sum()
                rep += (mult @ a) / rows_b
            if col + "b" in users:
                b = users[col + "b"].to_numpy(np.float64)
                c = users[col + "c"].to_numpy(np.float64)
                est += b.sum() / c.sum()
                rep += (mult @ b) / (mult @ c)
            lo, hi = np.quantile(rep, [alpha / 2, 1 - alpha / 2])
            truth = true_values[str(policy)]
            out.append(
                {
                    "policy": policy,
                    "estimator": name,
                    "estimate": float(est),
                    "lower": float(lo),
                    "upper": float(hi),
                    "true": truth,
                    "rel_error": est / truth - 1.0,
                    "abs_rel_error": abs(est / truth - 1.0),
                    "ess_share": ess / d["rows"],
                    "max_weight": d["max_w"],
                    "unsupported": d["unsupported"] / d["exposure"],
                }
            )
    return pd.DataFrame(out)
