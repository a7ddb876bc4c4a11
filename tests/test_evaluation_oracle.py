"""The oracle CB (true arm values): agreement with the environment's expected outcomes and with a
Monte Carlo of its own outcome draws, and its epsilon-greedy action distribution."""

from __future__ import annotations

import numpy as np
import pytest
from test_home_helpers import tiny_env, tiny_streams

from prefcal.evaluation.oracle import oracle_arm_values, oracle_policy
from prefcal.home.logging import simulate_home_data


@pytest.fixture(scope="module")
def logged():
    env = tiny_env(n=4)
    log, _ = simulate_home_data(env, tiny_streams(env))
    return env, log.take(np.arange(12))


def test_streams_value_is_the_expected_streams_of_each_arm(logged) -> None:
    env, data = logged
    v = oracle_arm_values(env, data, "streams")
    slates = data.inp.arm_slates()
    for a in range(v.shape[1]):
        e = np.zeros(data.inp.relevance.shape)
        rows = np.arange(data.n)[:, None]
        e[rows, slates[:, a]] = env.theta[None, :]
        c = (e > 0).astype(float)
        assert np.allclose(v[:, a], env.expected(data.batch, e, c)["streams"])


def test_any_stream_value_matches_a_monte_carlo_of_the_outcomes(logged) -> None:
    env, data = logged
    v = oracle_arm_values(env, data, "any_stream")
    assert v.shape == (data.n, data.inp.arms.shape[0])
    assert np.all((v >= 0) & (v <= env.settings.engagement))
    reps, k = 4000, env.settings.slate_size
    rng = np.random.default_rng(7)
    rows = np.repeat(np.arange(data.n), reps)
    batch = data.batch.take(rows)
    ia = env.intent_attraction(batch)
    for a in (0, v.shape[1] - 1):
        slates = data.inp.arm_slates()[rows, a]
        out = env.draw_outcomes(batch, slates, rng.random((rows.size, 2 * k + 4)), ia)
        mc = out.streamed.any(axis=1).reshape(data.n, reps).mean(axis=1)
        se = np.sqrt(v[:, a] * (1 - v[:, a]) / reps) + 1e-9
        assert np.all(np.abs(mc - v[:, a]) < 5 * se + 1e-3)


def test_oracle_policy_is_epsilon_greedy_on_the_values(logged) -> None:
    env, data = logged
    v = np.array([[0.1, 0.3, 0.3], [0.5, 0.2, 0.1]])
    inp = data.inp.take(np.arange(2))
    inp.arms = inp.arms[:3]
    d = oracle_policy(v, 0.3).action_dist(inp)
    assert np.allclose(d.sum(axis=1), 1.0)
    assert np.allclose(d, [[0.1, 0.8, 0.1], [0.8, 0.1, 0.1]])  # ties: lowest index
    with pytest.raises(ValueError, match="requests"):
        oracle_policy(v, 0.3).action_dist(data.inp)
    with pytest.raises(ValueError, match="reward"):
        oracle_arm_values(env, data, "clicks")


def test_ceiling_table_on_a_tiny_study() -> None:
    from test_home_helpers import tiny_config

    from prefcal.evaluation.oracle import ceiling_table
    from prefcal.evaluation.policyset import eval_settings

    env = tiny_env(n=6)
    log, profiles = simulate_home_data(env, tiny_streams(env))
    es = eval_settings(tiny_config())
    t = ceiling_table(env, log, profiles.counts.sum(axis=0), env.settings, es, 3)
    names = {"CB", "SC-90", "CB-oracle", "CB-oracle-greedy", "True-preference"}
    assert set(t["policy"]) == names
    assert len(t) == 5 * 3
    assert t["value"].between(0, 1).all()
    assert np.allclose(t.loc[t.policy == "SC-90", "lift"], 0.0)
    tv = t.drop_duplicates("policy").set_index("policy")["true_any_stream"]
    assert tv.between(0, env.settings.engagement).all()
    # the exact-reward greedy policy has the largest true value of all arm policies
    assert tv["CB-oracle-greedy"] >= tv.drop("SC-90").max() - 1e-12


def test_ceiling_macros_known_values():
    import pandas as pd

    from prefcal.evaluation.report import ceiling_macros

    rows = []
    for policy, true in (("SC-90", 0.30), ("CB", 0.29), ("CB-oracle", 0.32)):
        for metric, lift in (("podcast", -0.0193), ("overall", 0.004)):
            lift = 0.0 if policy == "SC-90" else lift
            rows.append(
                {"policy": policy, "metric": metric, "value": 0.9, "lift": lift,
                 "lower": lift - 0.01, "upper": lift + 0.01, "true_any_stream": true}
            )  # fmt: skip
    m = ceiling_macros(pd.DataFrame(rows))
    assert str(m["CeilingOracleCBTrueReward"]) == "32.00\\%"
    assert str(m["CeilingSCNinetyTrueReward"]) == "30.00\\%"
    minus = "\\ensuremath{-}"
    assert str(m["CeilingOracleCBPodcastCI"]) == f"{minus}1.9\\% [{minus}2.9, {minus}0.9]"
    assert "CeilingSCNinetyPodcastCI" not in m
    assert set(m) >= {"CeilingCBOverallLift", "CeilingCBTrueReward"}
