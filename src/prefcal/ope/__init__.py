"""Off-policy evaluation (STUDY 6.4) with Open Bandit Pipeline's argument names and shapes.

* estimators (floats): :func:`dm`, :func:`ipw` (``lambda_`` clipping), :func:`snipw`, :func:`dr`,
  :func:`sndr`, :func:`switch_dr`, :func:`dr_os`; formulas in :mod:`prefcal.ope.estimators`;
* :func:`bootstrap_ci`: vectorised percentile bootstrap of any of them;
* diagnostics: :func:`importance_weights`, :func:`effective_sample_size`, :func:`max_weight`,
  :func:`weight_diagnostics`;
* position bias: :func:`pbm_ipw`, :func:`pbm_weights`, :func:`examination_from_uniform_logs`.
"""

from prefcal.ope.bootstrap import bootstrap_ci
from prefcal.ope.diagnostics import (
    effective_sample_size,
    importance_weights,
    max_weight,
    weight_diagnostics,
)
from prefcal.ope.estimators import dm, dr, dr_os, ipw, sndr, snipw, switch_dr
from prefcal.ope.position import examination_from_uniform_logs, pbm_ipw, pbm_weights

__all__ = [
    "bootstrap_ci",
    "dm",
    "dr",
    "dr_os",
    "effective_sample_size",
    "examination_from_uniform_logs",
    "importance_weights",
    "ipw",
    "max_weight",
    "pbm_ipw",
    "pbm_weights",
    "sndr",
    "snipw",
    "switch_dr",
    "weight_diagnostics",
]
