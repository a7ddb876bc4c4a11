r"""The policies compared in stage 04, fitted on the TRAINING part of the Home logs.

========================  =====================================================================
name                      policy
========================  =====================================================================
``CB``                    epsilon-greedy contextual bandit over the arm grid (Feijer et al.
                          2025): reward model ``f(x, a) = P(any stream | x, a)``
                          (``evaluation.cb.reward_model``; logistic regression on
                          ``[x, onehot(a), x (x) onehot(a)]`` by default), exploration
                          ``evaluation.cb.epsilon``; the chosen arm's mix is the target of the
                          KL-penalised greedy slate builder
``CB-UCB``                LinUCB (``evaluation.cb.ucb_alpha``) on the same context and reward
``CB-TS``                 linear Thompson sampling (``ts_scale``, ``ts_n_mc`` Monte Carlo draws;
                          it serves by sampling its Monte Carlo action distribution, so that
                          distribution is its exact propensity)
``CB-MO``                 ``CB`` with the multi-objective reward ``(1 - w) 1[stream] + w 1[next-day
                          return]``, ``w`` = ``evaluation.cb.mo_weight``
``SC-7``, ``SC-90``       Steck's calibrated greedy towards the user's 7- / 90-day type shares
``MB``                    multinomial blending with the global (population) mix
``MB-90``                 multinomial blending with the user's 90-day mix
``Popularity``            Steck's greedy towards the population mix (Semerci et al.'s baseline)
``Single-feature``        one arm per bin of one context feature, arms chosen by IPW click rate
                          (Semerci et al.'s estimator sanity check)
``Logging``               the epsilon-greedy logging policy itself
========================  =====================================================================

The population mix is the type mix of all participants' counting streams in the
``home.features.profile_days`` days before the Home-log period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from prefcal.evaluation.reward_models import (
    REWARD_MODELS,
    epsilon_greedy_dist,
    make_epsilon_greedy,
)
from prefcal.home.logging import HomeData, logging_policy
from prefcal.home.policies import ArmPolicy, BlendPolicy, CalibratedPolicy, HomePolicy, SlateInput
from prefcal.home.settings import HomeSettings
from prefcal.policies import (
    EpsilonGreedy,
    LinearThompson,
    LinUCB,
    SingleFeaturePolicy,
    multi_objective_reward,
    simplex_grid,
)

__all__ = [
    "BANDITS",
    "BASELINES",
    "EvalSettings",
    "eval_settings",
    "fit_models",
    "fit_policies",
    "policies_from_models",
]

BANDITS = ("CB", "CB-UCB", "CB-TS", "CB-MO")
BASELINES = ("SC-7", "SC-90", "MB", "MB-90", "Popularity")


@dataclass(frozen=True)
class EvalSettings:
    """The ``evaluation:`` config section."""

    reward_model: str
    cb_epsilon: float
    ucb_alpha: float
    ts_scale: float
    ts_n_mc: int
    mo_weight: float
    sf_feature: str
    sf_thresholds: tuple[float, ...]
    ope_lambda: float
    ope_ridge: float
    ope_max_error: float
    n_bootstrap: int
    ci_level: float
    fit_max_users: int
    intent_bands: tuple[float, ...]
    sens_n_users: int
    sens_n_bootstrap: int
    sens_context_strength: tuple[float, ...]
    sens_epsilon: tuple[float, ...]
    sens_lam: tuple[float, ...]
    sens_arm_step: tuple[float, ...]
    sens_slate_size: tuple[int, ...]
    sens_examination_decay: tuple[float, ...]


def eval_settings(config: Mapping[str, Any]) -> EvalSettings:
    """:class:`EvalSettings` from a config holding the ``evaluation`` section."""
    if "evaluation" not in config:
        raise ValueError("config key evaluation: missing (stage 04 needs it)")
    e = config["evaluation"]
    try:
        cb, sf, ope, sens = e["cb"], e["single_feature"], e["ope"], e["sensitivity"]
        out = EvalSettings(
            reward_model=str(cb["reward_model"]),
            cb_epsilon=float(cb["epsilon"]),
            ucb_alpha=float(cb["ucb_alpha"]),
            ts_scale=float(cb["ts_scale"]),
            ts_n_mc=int(cb["ts_n_mc"]),
            mo_weight=float(cb["mo_weight"]),
            sf_feature=str(sf["feature"]),
            sf_thresholds=tuple(float(t) for t in sf["thresholds"]),
            ope_lambda=float(ope["lambda"]),
            ope_ridge=float(ope["ridge"]),
            ope_max_error=float(ope["max_error"]),
            n_bootstrap=int(e["n_bootstrap"]),
            ci_level=float(e["ci_level"]),
            fit_max_users=int(e["fit_max_users"]),
            intent_bands=tuple(float(v) for v in e["intent_bands"]),
            sens_n_users=int(sens["n_users"]),
            sens_n_bootstrap=int(sens["n_bootstrap"]),
            sens_context_strength=tuple(float(v) for v in sens["context_strength"]),
            sens_epsilon=tuple(float(v) for v in sens["epsilon"]),
            sens_lam=tuple(float(v) for v in sens["lam"]),
            sens_arm_step=tuple(float(v) for v in sens["arm_step"]),
            sens_slate_size=tuple(int(v) for v in sens["slate_size"]),
            sens_examination_decay=tuple(float(v) for v in sens["examination_decay"]),
        )
    except KeyError as exc:
        raise ValueError(f"config key evaluation: missing {exc.args[0]!r}") from None
    if out.reward_model not in REWARD_MODELS:
        raise ValueError(
            f"config key evaluation.cb.reward_model: {out.reward_model!r} is not one of "
            f"{list(REWARD_MODELS)}"
        )
    return out


def _constant(mix: np.ndarray) -> Any:
    def target(inp: SlateInput) -> np.ndarray:
        return np.broadcast_to(mix, (inp.n, mix.size))

    return target


def _window(w: int) -> Any:
    def target(inp: SlateInput) -> np.ndarray:
        return inp.shares[w]

    return target


def _bandit(name: str, model: Any) -> ArmPolicy:
    if isinstance(model, EpsilonGreedy):
        return ArmPolicy(name, lambda inp: epsilon_greedy_dist(model, inp.X))
    return ArmPolicy(name, lambda inp: model.action_dist(inp.X))


def fit_models(
    train: HomeData,
    hs: HomeSettings,
    es: EvalSettings,
    include: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The fitted state of the learned policies of the module docstring (picklable objects).

    Keys: the bandits of :data:`BANDITS` (fitted :class:`EpsilonGreedy`, :class:`LinUCB` or
    :class:`LinearThompson`) and ``Single-feature`` (:class:`SingleFeaturePolicy`), fitted on
    the logged ``train`` requests; ``include`` restricts them to some names. The other policies
    have nothing to learn. Seeds: the study ``seed`` (``hs.seed``) seeds the reward models and
    Thompson sampling.
    """
    if train.outcomes is None or train.arm is None or train.pscore is None:
        raise ValueError("fit_policies needs logged requests (period 'log')")
    want = set(include) if include is not None else None
    inp = train.inp
    n_arms = inp.arms.shape[0]
    x, arms = inp.X, train.arm
    stream = train.outcomes.streamed.any(axis=1).astype(np.float64)
    ret = train.outcomes.returned.astype(np.float64)
    out: dict[str, Any] = {}

    def wanted(name: str) -> bool:
        return want is None or name in want

    if wanted("CB"):
        cb = make_epsilon_greedy(es.reward_model, es.cb_epsilon, inp.arms, hs.seed)
        out["CB"] = cb.fit(x, arms, stream)
    if wanted("CB-UCB"):
        out["CB-UCB"] = LinUCB(es.ucb_alpha, n_arms=n_arms).fit(x, arms, stream)
    if wanted("CB-TS"):
        ts = LinearThompson(es.ts_scale, n_arms=n_arms, n_mc=es.ts_n_mc, random_state=hs.seed)
        out["CB-TS"] = ts.fit(x, arms, stream)
    if wanted("CB-MO"):
        mo = make_epsilon_greedy(es.reward_model, es.cb_epsilon, inp.arms, hs.seed)
        out["CB-MO"] = mo.fit(x, arms, multi_objective_reward(stream, ret, es.mo_weight))
    if wanted("Single-feature"):
        if es.sf_feature not in train.names:
            raise ValueError(
                f"config key evaluation.single_feature.feature: {es.sf_feature!r} is not a "
                f"context feature ({train.names})"
            )
        sf = SingleFeaturePolicy(train.names.index(es.sf_feature), es.sf_thresholds, n_arms)
        out["Single-feature"] = sf.fit(x, arms, stream, train.pscore)
    return out


def policies_from_models(
    models: Mapping[str, Any],
    population_mix: np.ndarray,
    hs: HomeSettings,
    es: EvalSettings,
    include: tuple[str, ...] | None = None,
) -> dict[str, HomePolicy]:
    """Every policy of the module docstring from the fitted ``models`` of :func:`fit_models`
    (a learned policy is present when its model is) and the population type counts or mix."""
    want = set(include) if include is not None else None
    pop = np.asarray(population_mix, dtype=np.float64)
    pop = pop / pop.sum()
    arms = simplex_grid(hs.n_types, hs.arm_step)
    out: dict[str, HomePolicy] = {}

    def wanted(name: str) -> bool:
        return want is None or name in want

    for name in BANDITS:
        if name in models and wanted(name):
            out[name] = _bandit(name, models[name])
    if wanted("SC-7"):
        out["SC-7"] = CalibratedPolicy("SC-7", _window(min(hs.windows)))
    if wanted("SC-90"):
        out["SC-90"] = CalibratedPolicy("SC-90", _window(max(hs.windows)))
    if wanted("MB"):
        out["MB"] = BlendPolicy("MB", _constant(pop))
    if wanted("MB-90"):
        out["MB-90"] = BlendPolicy("MB-90", _window(max(hs.windows)))
    if wanted("Popularity"):
        out["Popularity"] = CalibratedPolicy("Popularity", _constant(pop))
    if "Single-feature" in models and wanted("Single-feature"):
        sf = models["Single-feature"]
        out["Single-feature"] = ArmPolicy("Single-feature", lambda i: sf.action_dist(i.X))
    if wanted("Logging"):
        out["Logging"] = logging_policy(arms, hs.logging_epsilon, hs.logging_window)
        out["Logging"].name = "Logging"
    return out


def fit_policies(
    train: HomeData,
    population_mix: np.ndarray,
    hs: HomeSettings,
    es: EvalSettings,
    include: tuple[str, ...] | None = None,
) -> dict[str, HomePolicy]:
    """Fit every policy of the module docstring on the logged ``train`` requests
    (:func:`fit_models`, then :func:`policies_from_models`).

    ``include`` restricts the result to some names (the sensitivity runs need only CB and the
    SC baselines).
    """
    models = fit_models(train, hs, es, include)
    return policies_from_models(models, population_mix, hs, es, include)
