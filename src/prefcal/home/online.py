r"""Online runs of any Home policy in the simulated environment (the simulated A/B test).

For requests ``i`` (contexts and candidates drawn by the environment) a policy serves a slate
(:meth:`HomePolicy.sample`), the environment draws examinations, streams and next-day returns
(:meth:`HomeEnvironment.draw_outcomes`) with the requests' *common random numbers*
(:meth:`HomeEnvironment.outcome_uniforms`: every policy sees the same uniforms, so differences
between policies are not blurred by independent noise). Per request it records

========================  ==========================================================
``requests``              1
``impressions``           items shown (K)
``streams``               slots streamed >= 30 s
``podcast_impressions``   podcasts shown
``podcast_streams``       podcasts streamed
``minutes``               minutes of the streamed items
``returned``              Home visit the next day (0/1)
========================  ==========================================================

The TRUE values of the same quantities are their expectations under the policy's slate
distribution and the environment's probabilities (:meth:`HomeEnvironment.expected`), never
estimates from logs: :func:`expected_outcomes`.
"""

from __future__ import annotations

import numpy as np

from prefcal.home.environment import HomeEnvironment, RequestBatch
from prefcal.home.policies import HomePolicy, SlateInput
from prefcal.simulate.model import PODCAST

__all__ = ["OUTCOME_COLUMNS", "expected_outcomes", "run_policy"]

OUTCOME_COLUMNS = (
    "requests",
    "impressions",
    "streams",
    "podcast_impressions",
    "podcast_streams",
    "minutes",
    "returned",
)


def run_policy(
    env: HomeEnvironment,
    batch: RequestBatch,
    inp: SlateInput,
    policy: HomePolicy,
    uniforms: np.ndarray,
    rng: np.random.Generator | np.ndarray,
    intent_attraction: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Serve ``policy`` on every request once; realised outcomes per request (module docstring).

    ``uniforms`` are the requests' outcome uniforms (column 0 drives an arm choice), ``rng`` any
    other randomness of the policy (multinomial blending: a generator or ``(n, K)`` slot
    uniforms); ``intent_attraction`` may pass the environment's precomputed
    :meth:`~HomeEnvironment.intent_attraction`.
    """
    served = policy.sample(inp, uniforms[:, 0], rng)
    out = env.draw_outcomes(batch, served.slates, uniforms, intent_attraction)
    pod = env.types[served.slates] == PODCAST
    n, k = served.slates.shape
    return {
        "requests": np.ones(n),
        "impressions": np.full(n, float(k)),
        "streams": out.streamed.sum(axis=1).astype(np.float64),
        "podcast_impressions": pod.sum(axis=1).astype(np.float64),
        "podcast_streams": (out.streamed & pod).sum(axis=1).astype(np.float64),
        "minutes": (
            out.streamed * np.take_along_axis(batch.cands.minutes, served.slates, axis=1)
        ).sum(axis=1),
        "returned": out.returned.astype(np.float64),
    }


def expected_outcomes(
    env: HomeEnvironment,
    batch: RequestBatch,
    inp: SlateInput,
    policy: HomePolicy,
    attraction: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """TRUE expected outcomes per request of ``policy`` (same keys as :func:`run_policy`)."""
    dist = policy.distribution(inp)
    e = env.expected(batch, dist.exposure, dist.containment, attraction)
    return {
        "requests": np.ones(batch.n),
        "impressions": e["impressions"],
        "streams": e["streams"],
        "podcast_impressions": e["podcast_impressions"],
        "podcast_streams": e["podcast_streams"],
        "minutes": e["minutes"],
        "returned": e["return_prob"],
    }
