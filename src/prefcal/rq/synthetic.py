"""A small generator of recommendation snapshots from *known* policies (tests, power, attribution).

It writes exactly the snapshot-table contract of :mod:`prefcal.rq.contract`, so every analysis can
be checked where the truth is known. The model (all draws from one seeded Generator):

* **Users.** Long-term type mix ``theta_u ~ Dirichlet(c_u * mu)`` around the population mix ``mu``,
  with ``c_u`` small for specialists (share ``specialist_share``) and large for generalists.
  Activity ``r_u ~ Gamma(2, streams_per_day / 2)`` streams a day, each day active with probability
  ``active_day_prob``.
* **Listening.** On day ``d`` in context ``c`` (``n_contexts`` equally likely hour blocks) the
  user's type mix is ``softmax(ln theta_u + drift (d/D - 1/2) delta_u + context_strength
  (m_c + e_uc))`` with ``delta_u, e_uc ~ N(0, 0.5^2 or 1)`` per type and shared context effects
  ``m_c``; stream counts per type are Poisson. ``burn_in_days`` of history precede the
  ``study_days`` in which snapshots fall.
* **Targets** at a snapshot on day ``d`` in context ``c`` (history strictly before day d):
  ``hist_90``/``hist_7`` = the type shares of the user's streams in the last 90/7 days (undefined:
  NaN when there are none); ``context`` = the user's 90-day shares in context c shrunk to hist_90,
  ``(n_c + k hist_90) / (N_c + k)`` with ``k = context_prior``; ``global_mix`` = one fixed mix;
  ``popularity`` = all users' stream shares over the last ``popularity_window`` days.
* **Recommender** following target ``T`` with alignment ``a`` in [0, 1]: the slate's type mix is
  ``pi_s = a p_T,s + (1 - a) b_u``, where ``b_u ~ Dirichlet(baseline_concentration / G * 1)`` is a
  per-user mix that ignores preferences (centred on uniform, like exploration). An undefined
  ``p_T,s`` falls back to hist_90, then to ``b_u``. Slate-level over-dispersion
  ``pi'_s ~ Dirichlet(overdispersion * pi_s)`` (0 switches it off), slate size
  ``K_s ~ U{slate_size}``, counts ``n_s ~ Multinomial(K_s, pi'_s)``. Policy ``"none"`` (or
  ``a = 0``) ignores preferences entirely: the exact null of H1, since ``b_u`` is independent of
  everything about user u.
* **Covariates.** ``item_overlap = Binomial(K_s, rho_u) / K_s`` with ``rho_u ~ Beta(item_repeat)``;
  ``cluster_overlap`` = share of recommended items whose type has at least ``cluster_threshold`` of
  the user's hist_90; ``entropy = H(hist_90)`` in bits; ``gs_score = 1 - H(theta_u)/log2 G +
  N(0, 0.05^2)`` (a synthetic stand-in: high for specialists).

Users are simulated in fixed chunks of 256 so memory stays bounded and results do not depend on
anything but the config and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from prefcal.rq.contract import TARGETS, SnapshotData

__all__ = ["POLICIES", "SyntheticConfig", "SyntheticStudy", "simulate_snapshots"]

POLICIES = (*TARGETS, "none")
START = np.datetime64("2026-01-05T00:00:00", "ms")
CHUNK = 256


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the generator (see the module docstring for the model). For a generic type set
    (``population_mix`` / ``global_mix`` None) the population mix is drawn and the global mix is
    fixed, decreasing as 0.75^g. The default global mix (0.5, 0.4, 0.1) is podcast-heavy, i.e.
    not on the line from uniform through the popularity mix (see :mod:`.attribution`)."""

    n_users: int = 1000
    snapshots_per_user: float = 50.0
    types: tuple[str, ...] = ("music", "podcast", "audiobook")
    population_mix: tuple[float, ...] | None = (0.72, 0.20, 0.08)
    global_mix: tuple[float, ...] | None = (0.50, 0.40, 0.10)
    specialist_share: float = 0.5
    specialist_concentration: float = 1.5
    generalist_concentration: float = 30.0
    streams_per_day: float = 12.0
    active_day_prob: float = 0.75
    burn_in_days: int = 90
    study_days: int = 90
    n_contexts: int = 4
    context_strength: float = 1.0
    drift: float = 0.5
    context_prior: float = 20.0
    popularity_window: int = 28
    baseline_concentration: float = 10.0
    slate_size: tuple[int, int] = (10, 30)
    overdispersion: float = 200.0
    item_repeat: tuple[float, float] = (2.0, 18.0)
    cluster_threshold: float = 0.05

    def with_types(self, types: tuple[str, ...]) -> SyntheticConfig:
        """The same config for another type set (mixes reset to their generic defaults)."""
        return replace(self, types=tuple(types), population_mix=None, global_mix=None)

    def validate(self) -> None:
        g = len(self.types)
        if g < 2:
            raise ValueError("SyntheticConfig.types needs at least 2 types")
        for name in ("population_mix", "global_mix"):
            mix = getattr(self, name)
            if mix is not None and (len(mix) != g or min(mix) < 0 or abs(sum(mix) - 1) > 1e-9):
                raise ValueError(
                    f"SyntheticConfig.{name} must be {g} shares summing to 1, got {mix}"
                )
        if self.n_users < 2 or self.snapshots_per_user < 1:
            raise ValueError("SyntheticConfig needs n_users >= 2 and snapshots_per_user >= 1")
        lo, hi = self.slate_size
        if not 1 <= lo <= hi:
            raise ValueError(
                f"SyntheticConfig.slate_size must be 1 <= lo <= hi, got {self.slate_size}"
            )
        if self.burn_in_days < 90 or self.study_days < 1:
            raise ValueError(
                "SyntheticConfig needs burn_in_days >= 90 (the 90-day window) and study_days >= 1"
            )


@dataclass
class SyntheticStudy:
    """Snapshots (the contract) and the ground truth that only validation code may read."""

    data: SnapshotData
    truth: dict[str, Any] = field(default_factory=dict)


def _dirichlet_rows(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """Rows ~ Dirichlet(alpha_row) via normalised Gamma draws (alpha may hold zeros)."""
    g = rng.standard_gamma(alpha)
    s = g.sum(axis=-1, keepdims=True)
    bad = s[..., 0] <= 0
    if np.any(bad):  # all shapes ~0: put the mass on the largest alpha
        g[bad] = np.eye(alpha.shape[-1])[np.argmax(alpha[bad], axis=-1)]
        s = g.sum(axis=-1, keepdims=True)
    return g / s


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1), np.nan)


def _entropy_bits(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return np.where(np.isfinite(p).all(axis=-1), t.sum(axis=-1), np.nan)


def simulate_snapshots(
    config: SyntheticConfig,
    policy: str,
    alignment: float,
    seed: int | np.random.Generator,
) -> SyntheticStudy:
    """Simulate one study whose recommender follows ``policy`` (a target name or ``"none"``) with
    alignment strength ``alignment`` in [0, 1]; same config and seed give the same bytes."""
    config.validate()
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    a = 0.0 if policy == "none" else float(alignment)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"alignment must lie in [0, 1], got {alignment}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n, g, c_n = config.n_users, len(config.types), config.n_contexts
    days = config.burn_in_days + config.study_days

    mu = (
        np.asarray(config.population_mix, dtype=np.float64)
        if config.population_mix is not None
        else rng.dirichlet(np.full(g, 5.0))
    )
    glob = (
        np.asarray(config.global_mix, dtype=np.float64)
        if config.global_mix is not None
        else 0.75 ** np.arange(g) / (0.75 ** np.arange(g)).sum()
    )

    # users
    specialist = rng.random(n) < config.specialist_share
    conc = np.where(specialist, config.specialist_concentration, config.generalist_concentration)
    theta = _dirichlet_rows(rng, conc[:, None] * mu[None, :])
    rate = rng.gamma(2.0, config.streams_per_day / 2.0, n)
    delta = rng.normal(0.0, 1.0, (n, g))
    ctx_shared = rng.normal(0.0, 0.5, (c_n, g))
    ctx_user = rng.normal(0.0, 0.5, (n, c_n, g))
    baseline = _dirichlet_rows(rng, np.full((n, g), config.baseline_concentration / g))
    repeat = rng.beta(*config.item_repeat, n)

    # snapshots: per-user count, day, context, minute
    per_user = 1 + rng.poisson(config.snapshots_per_user - 1, n)
    user = np.repeat(np.arange(n), per_user)
    s_n = user.size
    day = rng.integers(config.burn_in_days, days, s_n)
    ctx = rng.integers(0, c_n, s_n)
    minute = rng.integers(0, 240, s_n)
    hour0 = np.linspace(0, 24, c_n, endpoint=False).astype(np.int64) + 6
    minutes = day * 1440 + (hour0[ctx] % 24) * 60 + minute
    order = np.lexsort((minutes, user))
    user, day, ctx, minutes = user[order], day[order], ctx[order], minutes[order]

    # listening, chunk by chunk: window counts at the snapshot days, and population totals per day
    c90 = np.zeros((s_n, g))
    c7 = np.zeros((s_n, g))
    c90_ctx = np.zeros((s_n, g))
    pop_daily = np.zeros((days, g))
    log_theta = np.log(theta + 1e-4)
    trend = np.arange(days) / days - 0.5
    starts = np.searchsorted(user, np.r_[np.arange(0, n, CHUNK), n])
    for k, u0 in enumerate(range(0, n, CHUNK)):
        u1 = min(u0 + CHUNK, n)
        logits = (
            log_theta[u0:u1, None, None, :]
            + config.drift * trend[None, :, None, None] * delta[u0:u1, None, None, :]
            + config.context_strength * (ctx_shared[None, None] + ctx_user[u0:u1, None])
        )
        mix = np.exp(logits - logits.max(axis=-1, keepdims=True))
        mix /= mix.sum(axis=-1, keepdims=True)
        active = rng.random((u1 - u0, days)) < config.active_day_prob
        lam = (rate[u0:u1, None] * active)[:, :, None, None] / c_n * mix
        counts = rng.poisson(lam).astype(np.float64)  # (users, days, contexts, types)
        pop_daily += counts.sum(axis=(0, 2))
        cs = np.concatenate([np.zeros((u1 - u0, 1, c_n, g)), np.cumsum(counts, axis=1)], axis=1)
        rows = slice(starts[k], starts[k + 1])
        lu, d, cx = user[rows] - u0, day[rows], ctx[rows]
        c90_ctx[rows] = cs[lu, d, cx] - cs[lu, d - 90, cx]
        c90[rows] = (cs[lu, d] - cs[lu, d - 90]).sum(axis=1)
        c7[rows] = (cs[lu, d] - cs[lu, d - 7]).sum(axis=1)

    pop_cs = np.concatenate([np.zeros((1, g)), np.cumsum(pop_daily, axis=0)])
    popularity = _shares(pop_cs[day] - pop_cs[np.maximum(day - config.popularity_window, 0)])
    hist_90 = _shares(c90)
    hist_7 = _shares(c7)
    k_prior = config.context_prior
    context = (c90_ctx + k_prior * hist_90) / (c90_ctx.sum(axis=1, keepdims=True) + k_prior)
    targets = {
        "hist_90": hist_90,
        "hist_7": hist_7,
        "context": context,
        "global_mix": np.broadcast_to(glob, (s_n, g)).copy(),
        "popularity": popularity,
    }

    # the recommender
    base = baseline[user]
    if a > 0:
        tau = targets[policy].copy()
        undefined = ~np.isfinite(tau).all(axis=1)
        tau[undefined] = hist_90[undefined]
        undefined = ~np.isfinite(tau).all(axis=1)
        tau[undefined] = base[undefined]
        pi = a * tau + (1.0 - a) * base
    else:
        pi = base
    if config.overdispersion > 0:
        pi = _dirichlet_rows(rng, config.overdispersion * pi)
    pi = pi / pi.sum(axis=1, keepdims=True)
    lo, hi = config.slate_size
    k_s = rng.integers(lo, hi + 1, s_n)
    rec = rng.multinomial(k_s, pi).astype(np.float64)

    item_overlap = rng.binomial(k_s, repeat[user]) / k_s
    with np.errstate(invalid="ignore"):
        covered = hist_90 >= config.cluster_threshold
    cluster_overlap = np.where(
        np.isfinite(hist_90).all(axis=1), (rec * covered).sum(axis=1) / k_s, np.nan
    )
    gs = 1.0 - _entropy_bits(theta) / np.log2(g) + rng.normal(0.0, 0.05, n)

    rank = np.arange(s_n) - np.searchsorted(user, user)
    data = SnapshotData(
        participant_ids=np.char.mod("P%010x", np.arange(n)).astype(str),
        user=user.astype(np.intp),
        snapshot_id=np.char.mod("s%05d", rank).astype(str),
        time=START + minutes.astype("timedelta64[m]").astype("timedelta64[ms]"),
        types=tuple(config.types),
        counts=rec,
        targets=targets,
        extras={
            "item_overlap": item_overlap,
            "cluster_overlap": cluster_overlap,
            "entropy": _entropy_bits(hist_90),
            "gs_score": gs[user],
        },
    )
    truth = {
        "policy": policy,
        "alignment": a,
        "theta": theta,
        "baseline": baseline,
        "specialist": specialist,
        "population_mix": mu,
        "global_mix": glob,
        "item_repeat": repeat,
    }
    return SyntheticStudy(data=data, truth=truth)
