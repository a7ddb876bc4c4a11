r"""The simulated A/B test of every Home policy against SC-90 (Table 2 analogue, STUDY 6.4).

Design
    The A/B requests are fresh Home requests of every simulated user in the test days
    (:meth:`HomeEnvironment.draw_requests` with period ``ab``). Every policy serves every request
    once (a *paired* design: all arms see the same users and contexts, and the same common random
    numbers for intents, examinations, streams and returns, so the contrast between two policies
    is not blurred by independent noise); policies are frozen after training.

Metrics (ratio metrics over users; :data:`AB_METRICS`)
    ===================  ======================================================
    ``podcast_i2s``      podcast streams / podcast impressions
    ``overall_i2s``      streams / impressions
    ``consumption``      streamed minutes / requests
    ``home_activity``    next-day Home returns / requests
    ===================  ======================================================

    The *realised* value is computed from the simulated outcomes, its lift over SC-90 with a
    paired percentile bootstrap over users (:mod:`prefcal.evaluation.lifts`). The *true* value
    replaces every count by its expectation under the policy and the environment
    (:func:`prefcal.home.online.expected_outcomes`); its lift is the exact effect the realised
    one estimates.

Paper (Feijer et al. 2025, online, CB vs SC-90): podcast i2s +36.6 %, overall i2s +3.93 %,
consumption +1.28 %, Home activity +1.54 % (:data:`PAPER_TABLE2`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from prefcal.evaluation.accuracy import user_counts
from prefcal.evaluation.lifts import lift_frame
from prefcal.home.environment import HomeEnvironment
from prefcal.home.logging import HomeData
from prefcal.home.online import expected_outcomes, run_policy
from prefcal.home.policies import HomePolicy

__all__ = ["AB_METRICS", "PAPER_TABLE2", "ab_table", "simulate_ab"]

AB_METRICS = {
    "podcast_i2s": ("podcast_streams", "podcast_impressions"),
    "overall_i2s": ("streams", "impressions"),
    "consumption": ("minutes", "requests"),
    "home_activity": ("returned", "requests"),
}
#: Feijer et al. (2025), online A/B of CB against SC-90 (relative lifts).
PAPER_TABLE2 = {
    "podcast_i2s": 0.366,
    "overall_i2s": 0.0393,
    "consumption": 0.0128,
    "home_activity": 0.0154,
}


def simulate_ab(
    env: HomeEnvironment,
    ab: HomeData,
    policies: Mapping[str, HomePolicy],
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Run every policy on the A/B requests: per-user realised and expected outcome counts.

    Arm choices, the slot draws of multinomial blending
    (:meth:`HomeEnvironment.slot_uniforms`) and all outcomes come from the requests' common random
    numbers, drawn per user: every policy sees the same numbers, and a user's outcomes do not
    depend on the other users (so the test can run shard by shard).
    """
    uniforms = env.outcome_uniforms(ab.batch, "ab")
    slots = env.slot_uniforms(ab.batch)
    ia = env.intent_attraction(ab.batch)
    a = env.attraction(ab.batch)
    realised, expected = {}, {}
    for name, policy in policies.items():
        out = run_policy(env, ab.batch, ab.inp, policy, uniforms, slots, ia)
        realised[name] = user_counts(out, ab.participant_id)
        expected[name] = user_counts(
            expected_outcomes(env, ab.batch, ab.inp, policy, a), ab.participant_id
        )
    return realised, expected


def ab_table(
    realised: dict[str, pd.DataFrame],
    expected: dict[str, pd.DataFrame],
    control: str = "SC-90",
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | None = None,
) -> pd.DataFrame:
    """Long table: policy, metric, value, lift, lower, upper (realised), true_value, true_lift."""
    real = lift_frame(realised, AB_METRICS, control, None, n_boot, level, random_state)
    rows = []
    for metric, (num, den) in AB_METRICS.items():
        ctrl = expected[control][num].sum() / expected[control][den].sum()
        for name, e in expected.items():
            value = e[num].sum() / e[den].sum()
            rows.append(
                {
                    "policy": name,
                    "metric": metric,
                    "true_value": value,
                    "true_lift": value / ctrl - 1.0,
                }
            )
    return real.merge(pd.DataFrame(rows), on=["policy", "metric"], how="left")
