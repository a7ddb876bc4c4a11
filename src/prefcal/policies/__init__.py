"""Home-page slate policies (STUDY 6.3).

* :func:`steck_greedy` / :func:`steck_greedy_batch` / :func:`steck_greedy_naive`: Steck's
  calibrated greedy slate builder (SC-W, and the slate builder of the CB policy);
* :func:`multinomial_blend` / :func:`multinomial_blend_batch`: multinomial blending (MB);
* :class:`PopularityPolicy`, :func:`population_mix`: the non-personal popularity baseline;
* :class:`SingleFeaturePolicy`: Semerci et al.'s single-feature sanity check for OPE;
* :mod:`prefcal.policies.bandits`: contextual bandits over type mixes (CB): :class:`EpsilonGreedy`,
  :class:`LinUCB`, :class:`LinearThompson`, :func:`simplex_grid`, :func:`multi_objective_reward`.
"""

from prefcal.policies.bandits import (
    EpsilonGreedy,
    LinearThompson,
    LinUCB,
    multi_objective_reward,
    run_online,
    simplex_grid,
)
from prefcal.policies.blend import multinomial_blend, multinomial_blend_batch
from prefcal.policies.popularity import PopularityPolicy, population_mix
from prefcal.policies.single_feature import SingleFeaturePolicy
from prefcal.policies.steck import steck_greedy, steck_greedy_batch, steck_greedy_naive

__all__ = [
    "EpsilonGreedy",
    "LinUCB",
    "LinearThompson",
    "PopularityPolicy",
    "SingleFeaturePolicy",
    "multi_objective_reward",
    "multinomial_blend",
    "multinomial_blend_batch",
    "population_mix",
    "run_online",
    "simplex_grid",
    "steck_greedy",
    "steck_greedy_batch",
    "steck_greedy_naive",
]
