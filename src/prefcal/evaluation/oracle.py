r"""The oracle CB: the arm choice of a contextual bandit that knows the TRUE reward of every arm.

Validation only (it reads the environment's truth, never the logs). It answers "how much could
any CB reward model gain at best?": a CB whose reward model were exact would play the arm that
maximises the true expected reward, so the oracle's replay accuracy is the ceiling of what a
better reward model can do for CB in Table 1.

True arm values of request ``i`` (Home model of :mod:`prefcal.home.environment`): arm ``a``'s slate
``s_{ia}`` (Steck's greedy towards the arm's mix), examination ``theta_k``, engagement ``g``, intent
distribution ``pi_{it}`` and attraction ``a_{j|t}`` of candidate ``j`` under intent ``t``.

``any_stream`` (the CB reward: at least one stream >= 30 s)
    .. math:: v_{ia} = g \sum_t \pi_{it} \Bigl[1 - \prod_k \bigl(1 - \theta_k
              a_{s_{iak} \mid t}\bigr)\Bigr]

    (given the intent and engagement, slots are examined and streamed independently).
``streams`` (expected number of streams, the Table 2 stream rate times K)
    .. math:: v_{ia} = g \sum_k \theta_k \sum_t \pi_{it} a_{s_{iak} \mid t}.

The oracle policy is epsilon-greedy on ``v``: ``1 - eps + eps / A`` on ``argmax_a v_{ia}`` (lowest
index on ties) and ``eps / A`` elsewhere, the same action distribution as
:class:`prefcal.policies.EpsilonGreedy` with an exact reward model. :func:`ceiling_table` replays
it beside CB and SC-90 on the held-out logged requests (frozen accuracy definitions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prefcal.evaluation.accuracy import ACCURACY_METRICS
from prefcal.evaluation.lifts import lift_frame
from prefcal.evaluation.policyset import EvalSettings, fit_policies
from prefcal.evaluation.replay import replay_table, split_log
from prefcal.home.environment import HomeEnvironment
from prefcal.home.logging import HomeData
from prefcal.home.policies import ArmPolicy, HomePolicy, SlateInput
from prefcal.home.settings import HomeSettings

__all__ = [
    "ARM_VALUES",
    "ceiling_table",
    "oracle_arm_values",
    "oracle_policies",
    "oracle_policy",
    "slate_values",
    "true_any_stream",
]

ARM_VALUES = ("any_stream", "streams")


def slate_values(
    env: HomeEnvironment, data: HomeData, slates: np.ndarray, reward: str = "any_stream"
) -> np.ndarray:
    """True value (module docstring) of given slates ``(n, S, K)`` of the requests of ``data``.

    Returns ``(n, S)``: the value of slate ``s`` of request ``i`` for every ``s``.
    """
    if reward not in ARM_VALUES:
        raise ValueError(f"reward must be one of {list(ARM_VALUES)}, got {reward!r}")
    sl = np.asarray(slates, dtype=np.int64)
    if sl.ndim != 3 or sl.shape[0] != data.n:
        raise ValueError(f"slates must be (n, S, K) with n = {data.n}, got shape {sl.shape}")
    n, n_slates, k = sl.shape
    ia = env.intent_attraction(data.batch)  # (n, G, J)
    pi = env.type_preference(data.batch)  # (n, G)
    theta = np.asarray(env.theta, dtype=np.float64)[:k]
    flat = sl.reshape(n, n_slates * k)
    out = np.zeros((n, n_slates))
    for t in range(pi.shape[1]):  # a loop over the few content types; requests are vectorised
        a_slot = np.take_along_axis(ia[:, t, :], flat, axis=1).reshape(n, n_slates, k)
        if reward == "any_stream":
            out += pi[:, [t]] * (1.0 - np.prod(1.0 - theta * a_slot, axis=2))
        else:
            out += pi[:, [t]] * (a_slot * theta).sum(axis=2)
    return env.settings.engagement * out


def oracle_arm_values(
    env: HomeEnvironment, data: HomeData, reward: str = "any_stream"
) -> np.ndarray:
    """True value ``v_{ia}`` of every arm for every request of ``data``, ``(n, A)`` (module docs).

    ``reward`` is ``"any_stream"`` or ``"streams"``. Uses ``data.inp``'s arm slates (computed once
    and cached on the input).
    """
    return slate_values(env, data, data.inp.arm_slates(), reward)


def oracle_policy(values: np.ndarray, epsilon: float, name: str = "CB-oracle") -> ArmPolicy:
    """Epsilon-greedy :class:`ArmPolicy` on precomputed true arm values ``values (n, A)``.

    The policy only serves the requests ``values`` was computed for (same number of rows).
    """
    v = np.asarray(values, dtype=np.float64)
    eps = float(epsilon)
    if v.ndim != 2:
        raise ValueError(f"values must be (n, A), got shape {v.shape}")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    n, n_arms = v.shape
    dist = np.full((n, n_arms), eps / n_arms)
    dist[np.arange(n), np.argmax(v, axis=1)] += 1.0 - eps

    def action_dist(inp: SlateInput) -> np.ndarray:
        if inp.n != n or inp.arms.shape[0] != n_arms:
            raise ValueError(
                f"{name}: values are for {n} requests x {n_arms} arms, the input has "
                f"{inp.n} x {inp.arms.shape[0]}"
            )
        return dist

    return ArmPolicy(name, action_dist)


def oracle_policies(env: HomeEnvironment, test: HomeData, es: EvalSettings) -> dict[str, ArmPolicy]:
    """The validation policies of :func:`ceiling_table` on the requests of ``test``:

    * ``CB-oracle``: epsilon-greedy (``evaluation.cb.epsilon``) on the true ``any_stream`` arm
      values, i.e. CB with an exact reward model;
    * ``CB-oracle-greedy``: the same with ``epsilon = 0``;
    * ``True-preference``: the arm nearest (L1) to the TRUE intent distribution ``pi_i`` of the
      request (the context-aware calibration target), epsilon-greedy like CB.

    Each serves only these requests (its values are precomputed per request).
    """
    v = oracle_arm_values(env, test, "any_stream")
    pi = env.type_preference(test.batch)
    closeness = -np.abs(pi[:, None, :] - test.inp.arms[None, :, :]).sum(axis=2)
    return {
        "CB-oracle": oracle_policy(v, es.cb_epsilon, "CB-oracle"),
        "CB-oracle-greedy": oracle_policy(v, 0.0, "CB-oracle-greedy"),
        "True-preference": oracle_policy(closeness, es.cb_epsilon, "True-preference"),
    }


def true_any_stream(
    env: HomeEnvironment, test: HomeData, policies: dict[str, HomePolicy]
) -> dict[str, float]:
    """Each policy's TRUE ``P(at least one stream)`` summed over the requests of ``test``:
    ``sum_i sum_a pi(a | x_i) v_ia`` for an arm policy, ``sum_i v_i(s_i)`` of its own slate
    ``s_i`` for a deterministic slate policy (SC-W)."""
    v = oracle_arm_values(env, test, "any_stream")
    out = {}
    for name, pol in policies.items():
        if isinstance(pol, ArmPolicy):
            out[name] = float((pol.action_dist(test.inp) * v).sum())
        else:  # SC-90: deterministic, its own slates (no randomness is drawn)
            slates = pol.sample(test.inp, np.zeros(test.n), np.random.default_rng(0)).slates
            out[name] = float(slate_values(env, test, slates[:, None, :]).sum())
    return out


def ceiling_table(
    env: HomeEnvironment,
    log: HomeData,
    population: np.ndarray,
    hs: HomeSettings,
    es: EvalSettings,
    random_state: int,
) -> pd.DataFrame:
    """Replay lifts over SC-90 of CB and of the policies of :func:`oracle_policies`.

    On the same split and held-out requests with a stream as :func:`prefcal.evaluation.pipeline.
    run_stage` (frozen accuracy definitions, paired user bootstrap with ``es.n_bootstrap``
    replicates from ``random_state``), with all requests in one piece (the workflow makes the
    same table shard by shard, :mod:`prefcal.evaluation.shards`). Columns: policy, metric,
    value, lift, lower, upper, true_any_stream (the policy's mean true ``P(at least one
    stream)`` per held-out request, :func:`true_any_stream`).
    """
    if log.outcomes is None:
        raise ValueError("ceiling_table needs the logged requests")
    train, _, test = split_log(log)
    policies: dict[str, HomePolicy] = dict(
        fit_policies(train, population, hs, es, include=("CB", "SC-90"))
    )
    policies.update(oracle_policies(env, test, es))
    per_user = replay_table(test, policies)
    out = lift_frame(
        per_user, ACCURACY_METRICS, "SC-90", None, es.n_bootstrap, es.ci_level, random_state
    )
    sums = true_any_stream(env, test, policies)
    out["true_any_stream"] = out["policy"].map({k: v / test.n for k, v in sums.items()})
    return out
