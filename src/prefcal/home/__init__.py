"""The Home surface as a simulated environment (STUDY.md 5, 6.3): requests, candidates, policies.

* :mod:`~prefcal.home.settings`: the ``home:`` config section (:func:`home_settings`);
* :mod:`~prefcal.home.candidates`: candidate pools and the imperfect ranker;
* :mod:`~prefcal.home.examination`: the position-based examination model ``theta_k``;
* :mod:`~prefcal.home.environment`: :class:`HomeEnvironment` (requests, streams, next-day return,
  expected outcomes = true policy values);
* :mod:`~prefcal.home.features`: the context vector ``x`` from canonical streams;
* :mod:`~prefcal.home.policies`: policies as slate distributions (SC-W, MB, CB / arm policies);
* :mod:`~prefcal.home.logging`: the epsilon-greedy logging policy and the Home impressions tables;
* :mod:`~prefcal.home.online`: online runs of any policy (the simulated A/B test);
* :mod:`~prefcal.home.cli`: ``prefcal home log`` and ``prefcal home sensitivity``.
"""

from prefcal.home.candidates import Candidates, HomeCatalogue
from prefcal.home.environment import HomeEnvironment, Outcomes, RequestBatch
from prefcal.home.settings import HomeSettings, home_settings

__all__ = [
    "Candidates",
    "HomeCatalogue",
    "HomeEnvironment",
    "HomeSettings",
    "Outcomes",
    "RequestBatch",
    "home_settings",
]
