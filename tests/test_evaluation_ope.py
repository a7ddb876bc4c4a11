"""Item-level position-based off-policy estimates: mapping, exactness of DM, unbiasedness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_home_helpers import tiny_env, tiny_streams

from prefcal.evaluation.ope_eval import (
    ESTIMATORS,
    PBMLogistic,
    _obp_args,
    ope_from_parts,
    ope_user_parts,
    slot_data,
)
from prefcal.home.logging import logging_policy, simulate_home_data
from prefcal.home.online import expected_outcomes
from prefcal.home.policies import CalibratedPolicy
from prefcal.ope import dm, dr, ipw, pbm_ipw


@pytest.fixture(scope="module")
def logged():
    env = tiny_env(n=6)
    log, _ = simulate_home_data(env, tiny_streams(env))
    hs = env.settings
    logger = logging_policy(log.inp.arms, hs.logging_epsilon, hs.logging_window)
    target = CalibratedPolicy("SC", lambda inp: inp.shares[28])
    return env, log, logger, target


def test_ipw_mapping_equals_pbm_ipw(logged) -> None:
    env, log, logger, target = logged
    m0 = logger.distribution(log.inp).containment
    n, k = log.outcomes.slates.shape
    sd = slot_data(
        log.outcomes.slates,
        log.outcomes.streamed,
        m0,
        env.examination,
        np.zeros_like(m0),
        log.participant_id,
    )
    args = _obp_args(sd, target.distribution(log.inp).exposure)
    mine = ipw(args["reward"], args["action"], args["pscore"], args["action_dist"])
    # the same estimator with per-slot target probabilities pi(a, k)
    slates = log.inp.greedy_slates(log.inp.shares[28])
    pi = np.zeros((n, m0.shape[1], k))
    pi[np.arange(n)[:, None], slates, np.arange(k)[None, :]] = 1.0
    req = np.repeat(np.arange(n), k)
    action = log.outcomes.slates.ravel()
    pos = np.tile(np.arange(k), n)
    # exact logging probability of the logged item in its slot: sum over arms
    arm_slates = log.inp.arm_slates()  # (n, A, K)
    d0 = logger.action_dist(log.inp)
    p_slot = (d0[req] * (arm_slates[req, :, pos] == action[:, None])).sum(axis=1)
    ref = pbm_ipw(
        reward=log.outcomes.streamed.ravel().astype(float),
        action=action,
        position=pos,
        pscore=p_slot,
        action_dist=pi[req],
        examination=env.examination,
        pscore_item=m0[req, action],
    )
    assert mine == pytest.approx(ref)
    e = target.distribution(log.inp).exposure
    direct = (
        e[req, action] * log.outcomes.streamed.ravel() / (np.tile(env.theta, n) * m0[req, action])
    )
    assert mine == pytest.approx(direct.mean())


def test_dm_with_the_true_attraction_is_the_true_value(logged) -> None:
    env, log, logger, target = logged
    m0 = logger.distribution(log.inp).containment
    sd = slot_data(
        log.outcomes.slates,
        log.outcomes.streamed,
        m0,
        env.examination,
        env.attraction(log.batch),
        log.participant_id,
    )
    args = _obp_args(sd, target.distribution(log.inp).exposure)
    truth = expected_outcomes(env, log.batch, log.inp, target)
    true_rate = truth["streams"].sum() / truth["impressions"].sum()
    assert dm(args["action_dist"], args["estimated_rewards_by_reg_model"]) == pytest.approx(
        true_rate
    )


def test_ipw_and_dr_are_unbiased_over_logging_draws(logged) -> None:
    env, log, logger, target = logged
    inp = log.inp
    m0 = logger.distribution(inp).containment
    e = target.distribution(inp).exposure
    truth = expected_outcomes(env, log.batch, inp, target)
    true_rate = truth["streams"].sum() / truth["impressions"].sum()
    gamma = np.clip(env.attraction(log.batch) * 1.3, 0, 1)  # a deliberately wrong model
    ia = env.intent_attraction(log.batch)
    rng = np.random.default_rng(11)
    width = env.outcome_uniforms(log.batch).shape[1]
    est = {"ipw": [], "dr": [], "dm": []}
    for _ in range(300):
        u = rng.random((log.n, width))
        arm, _ = logger.sample_arms(inp, u[:, 0])
        out = env.draw_outcomes(log.batch, inp.slates_for_arms(arm), u, ia)
        sd = slot_data(out.slates, out.streamed, m0, env.examination, gamma, log.participant_id)
        a = _obp_args(sd, e)
        est["ipw"].append(ipw(a["reward"], a["action"], a["pscore"], a["action_dist"]))
        est["dr"].append(dr(**a))
        est["dm"].append(dm(a["action_dist"], a["estimated_rewards_by_reg_model"]))
    for name in ("ipw", "dr"):
        v = np.asarray(est[name])
        assert abs(v.mean() - true_rate) < 4 * v.std(ddof=1) / np.sqrt(v.size), name
    assert abs(np.mean(est["dm"]) / true_rate - 1) > 0.1  # the wrong model biases DM


def test_pbm_reward_model_and_estimate_table(logged) -> None:
    env, log, logger, target = logged
    o = log.outcomes
    model = PBMLogistic(3, ridge=1.0).fit(
        log.inp.X, log.inp.relevance, log.inp.item_type, o.slates, o.streamed, env.examination
    )
    g = model.predict(log.inp.X, log.inp.relevance, log.inp.item_type)
    assert g.shape == log.inp.relevance.shape and np.all((g > 0) & (g < 1))
    # the fitted model reproduces the logged stream count in-sample (PBM calibration)
    exp_streams = (np.take_along_axis(g, o.slates, axis=1) * env.examination).sum()
    assert exp_streams == pytest.approx(o.streamed.sum(), rel=0.15)
    m0 = logger.distribution(log.inp).containment
    sd = slot_data(o.slates, o.streamed, m0, env.examination, g, log.participant_id)
    truth = expected_outcomes(env, log.batch, log.inp, target)
    exposure = target.distribution(log.inp).exposure
    pids = list(dict.fromkeys(log.participant_id))
    users, pol = ope_user_parts(sd, {"SC": exposure}, pids, m0, 100.0)
    true_value = {"SC": truth["streams"].sum() / truth["impressions"].sum()}
    table = ope_from_parts(users, pol, true_value, 50, 0.9, 0)
    assert len(table) == 7
    assert np.all(table["lower"] <= table["estimate"] + 1e-12)
    assert np.all(table["upper"] >= table["estimate"] - 1e-12)
    assert np.allclose(table["rel_error"], table["estimate"] / table["true"] - 1)
    # the estimates from per-user sums equal the obp-named estimators on all the slots
    args = _obp_args(sd, exposure)
    for name, fn in ESTIMATORS.items():
        kw = {"lambda_": 100.0} if name in ("Switch-DR", "DR-OS") else {}
        direct = fn(**args, **kw)
        got = table.loc[table.estimator == name, "estimate"].item()
        assert got == pytest.approx(direct, rel=1e-12), name
    w = args["action_dist"][np.arange(sd.action.size), sd.action, 0] / sd.pscore
    assert table["ess_share"].iloc[0] == pytest.approx(w.sum() ** 2 / (w.size * (w @ w)))
    assert table["max_weight"].iloc[0] == pytest.approx(w.max())


def test_ope_parts_of_two_shards_combine_to_one_piece(logged) -> None:
    """Parts computed on two halves of the users and concatenated give the same table."""
    env, log, logger, target = logged
    o = log.outcomes
    model = PBMLogistic(3, ridge=1.0).fit(
        log.inp.X, log.inp.relevance, log.inp.item_type, o.slates, o.streamed, env.examination
    )

    def parts(rows):
        d = log.take(rows)
        g = model.predict(d.inp.X, d.inp.relevance, d.inp.item_type)
        m0 = logger.distribution(d.inp).containment
        sd = slot_data(
            d.outcomes.slates, d.outcomes.streamed, m0, env.examination, g, d.participant_id
        )
        e = {"SC": target.distribution(d.inp).exposure, "Log": logger.distribution(d.inp).exposure}
        return ope_user_parts(sd, e, list(dict.fromkeys(d.participant_id)), m0, 100.0)

    truth = {"SC": 0.1, "Log": 0.1}
    whole = ope_from_parts(*parts(np.arange(log.n)), truth, 40, 0.9, 5)
    users = np.unique(log.participant_id)
    first = np.isin(log.participant_id, users[::2])
    a, b = parts(np.flatnonzero(first)), parts(np.flatnonzero(~first))
    split = ope_from_parts(
        pd.concat([b[0], a[0]]),
        pd.concat([b[1], a[1]]),
        truth,
        40,
        0.9,
        5,
    )
    assert len(whole) == 14
    num = ["estimate", "lower", "upper", "ess_share", "max_weight", "unsupported"]
    assert np.allclose(whole[num].to_numpy(), split[num].to_numpy(), rtol=1e-12, atol=1e-15)
