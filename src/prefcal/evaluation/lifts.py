r"""Relative lifts of ratio metrics with paired bootstrap confidence intervals over users.

A ratio metric of policy ``p`` is ``R_p = sum_u N_{pu} / sum_u D_{pu}`` over users ``u`` (an
accuracy, an impression-to-stream rate, streams per request ...). The lift of a treatment ``t``
over a control ``c`` is

.. math:: L = \frac{R_t}{R_c} - 1 = \frac{\sum_u N_{tu} / \sum_u D_{tu}}
                                         {\sum_u N_{cu} / \sum_u D_{cu}} - 1.

Paired bootstrap: users are resampled with replacement ``n_boot`` times, *the same resample for
every policy* (the policies were evaluated on the same users' requests, so their errors are
correlated and pairing removes the shared noise). A resample is a vector of multiplicities
``M_b ~ Multinomial(U, 1/U)``; every re-estimate is ``R_{pb} = (M_b . N_p) / (M_b . D_p)``, so all
replicates of all policies and metrics come from one matrix product ``M (B x U) @ [N D] (U x m)``
(vectorised; drawn in blocks of replicates to bound memory). The interval is the percentile
interval ``[Q(alpha/2), Q(1 - alpha/2)]`` of the replicate lifts, ``alpha = 1 - level``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "LiftCI",
    "bootstrap_multiplicities",
    "lift_frame",
    "paired_policies",
    "ratio_lift",
    "ratio_lifts",
]

_BLOCK = 2**22  # entries of a multiplicity block


@dataclass(frozen=True)
class LiftCI:
    """A lift with its percentile bootstrap interval."""

    estimate: float
    lower: float
    upper: float

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies entirely above or below zero."""
        return bool(self.lower > 0 or self.upper < 0)


def bootstrap_multiplicities(n_units: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n_units)`` counts: row b = how often each unit is drawn in resample b."""
    if n_units < 1 or n_boot < 1:
        raise ValueError("need at least one unit and one bootstrap replicate")
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(np.float64)


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"evaluation.ci_level must lie in (0, 1), got {level}")
    return level


def ratio_lifts(
    numerators: np.ndarray,
    denominators: np.ndarray,
    control: int | Sequence[int],
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> list[LiftCI]:
    """Lifts of every column ``p`` of ``numerators/denominators (U, P)`` over column ``control``.

    ``control`` is one column for all, or one control column per column (``(P,)``: column ``p``
    over column ``control[p]``, e.g. each band's own control); every lift uses the same resamples.
    Returns one :class:`LiftCI` per column (the control's own lift is 0 with a zero interval).
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if num.ndim != 2 or num.shape != den.shape:
        raise ValueError("numerators and denominators must be (n_users, n_policies) arrays")
    ctrl = np.asarray(control, dtype=np.int64)
    if ctrl.ndim == 0:
        ctrl = np.full(num.shape[1], int(ctrl))
    elif ctrl.shape != (num.shape[1],):
        raise ValueError(
            f"control must be one column or one per column ({num.shape[1]}), got {ctrl.size}"
        )
    if ctrl.size and (ctrl.min() < 0 or ctrl.max() >= num.shape[1]):
        raise ValueError(f"control column {control} is out of range")
    level = _check_level(level)
    rng = (
        random_state
        if isinstance(random_state, np.random.Generator)
        else np.random.default_rng(random_state)
    )
    n_units, n_pol = num.shape
    both = np.hstack([num, den])
    per_block = max(1, _BLOCK // n_units)
    reps = np.empty((int(n_boot), n_pol))
    for lo in range(0, int(n_boot), per_block):
        m = bootstrap_multiplicities(n_units, min(per_block, int(n_boot) - lo), rng)
        sums = m @ both
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = sums[:, :n_pol] / sums[:, n_pol:]
            reps[lo : lo + m.shape[0]] = ratio / ratio[:, ctrl] - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        point = num.sum(axis=0) / den.sum(axis=0)
        est = point / point[ctrl] - 1.0
    alpha = 1.0 - level
    out = []
    for p in range(n_pol):
        r = reps[:, p][np.isfinite(reps[:, p])]
        lo_, hi_ = np.quantile(r, [alpha / 2, 1 - alpha / 2]) if r.size else (np.nan, np.nan)
        out.append(LiftCI(float(est[p]), float(lo_), float(hi_)))
    return out


def ratio_lift(
    num_t: np.ndarray,
    den_t: np.ndarray,
    num_c: np.ndarray,
    den_c: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | np.random.Generator | None = None,
) -> LiftCI:
    """Lift of treatment over control for per-user numerators and denominators ``(U,)`` each."""
    num = np.column_stack([num_c, num_t])
    den = np.column_stack([den_c, den_t])
    return ratio_lifts(num, den, 0, n_boot, level, random_state)[1]


def paired_policies(per_user: dict[str, pd.DataFrame], control: str) -> list[str]:
    """The policy names of ``per_user``, after checking that ``control`` is one of them and that
    every policy's per-user frame has the control's users in the control's order (pairing)."""
    names = list(per_user)
    if control not in per_user:
        raise KeyError(f"control policy {control!r} is not among {names}")
    index = per_user[control].index
    for name in names:
        if not per_user[name].index.equals(index):
            raise ValueError(f"policy {name!r} was evaluated on other users than {control!r}")
    return names


def lift_frame(
    per_user: dict[str, pd.DataFrame],
    metrics: dict[str, tuple[str, str]],
    control: str,
    treatments: Sequence[str] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | None = None,
) -> pd.DataFrame:
    """Long table of lifts over ``control`` for every policy and metric, with paired CIs.

    ``per_user[policy]`` holds per-user count columns (same users, same order, in every frame);
    ``metrics`` maps a metric to its ``(numerator, denominator)`` columns. One multiplicity
    matrix is drawn per metric from ``default_rng(random_state)`` in metric order, so all
    policies share the resample. Columns: policy, metric, value (the policy's ratio), lift,
    lower, upper.
    """
    names = paired_policies(per_user, control)
    shown = names if treatments is None else list(treatments)
    rng = np.random.default_rng(random_state)
    rows = []
    c = names.index(control)
    for metric, (num_col, den_col) in metrics.items():
        num = np.column_stack([per_user[p][num_col].to_numpy(np.float64) for p in names])
        den = np.column_stack([per_user[p][den_col].to_numpy(np.float64) for p in names])
        lifts = ratio_lifts(num, den, c, n_boot, level, rng)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = num.sum(axis=0) / den.sum(axis=0)
        for p, name in enumerate(names):
            if name not in shown:
                continue
            li = lifts[p]
            rows.append(
                {
                    "policy": name,
                    "metric": metric,
                    "value": float(values[p]),
                    "lift": li.estimate,
                    "lower": li.lower,
                    "upper": li.upper,
                }
            )
    return pd.DataFrame(rows)
