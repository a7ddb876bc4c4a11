r"""Home slate policies as distributions over slates: exposure, containment, sampling.

Every policy of the study builds a slate of ``K`` items from the ``J = G K`` candidates of a
request (:mod:`prefcal.home.candidates`; action id ``j = type * K + rank``). What the evaluation
needs from a policy ``pi`` for request ``i`` is

* the *containment* ``c_ij = P_pi(j in slate)`` (replay accuracy, impressions),
* the *exposure* ``e_ij = sum_k theta_k P_pi(j at slot k)`` (expected streams under the
  position-based model, true values and item-level off-policy estimates),
* its type *mix* ``m_i`` (type-level accuracy), and
* a way to *sample* a slate (online runs, logging).

Policies
--------
:class:`CalibratedPolicy`
    Steck's greedy (:func:`prefcal.policies.steck_greedy_batch`) towards a target type mix per
    request: SC-W (target = the user's W-day history shares) and the popularity baseline (target =
    the population mix). Deterministic.
:class:`BlendPolicy`
    Multinomial blending (:func:`prefcal.policies.multinomial_blend_batch`) with a mix per request
    (MB global, MB per-user 90-day). Slot types are i.i.d. draws from the mix (no type runs out,
    since every type has ``K`` candidates), so item ``(g, r)`` (0-based rank ``r``) is at slot ``k``
    with probability ``m_g \binom{k}{r} m_g^r (1 - m_g)^{k - r}`` for ``r <= k``: exposure and
    containment are exact closed forms.
:class:`ArmPolicy`
    A distribution ``pi(a | x)`` over the arm grid of type mixes (contextual bandits, the
    epsilon-greedy logging policy, the single-feature policy); arm ``a``'s slate is Steck's greedy
    towards the arm's mix, so ``e_ij = sum_a pi(a|x_i) e_ij(a)``. Sampling draws the arm by inverse
    CDF of ``pi(.|x_i)`` with one uniform per request (the propensity is exactly ``pi(a|x_i)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import comb

import numpy as np

from prefcal.policies import multinomial_blend_batch, steck_greedy_batch

__all__ = [
    "ArmPolicy",
    "BlendPolicy",
    "CalibratedPolicy",
    "HomePolicy",
    "SampledSlates",
    "SlateDistribution",
    "SlateInput",
    "exposure_from_slates",
    "nearest_arm",
]

#: Requests per call of the batched greedy builder when all arms' slates are computed.
ARM_CHUNK = 1024


@dataclass
class SlateInput:
    """What the policies see of ``n`` requests (all observable).

    ``shares`` maps a window (days) to the user's type shares ``(n, G)`` at the request time (gaps
    already filled, rows sum to one); ``X`` is the context matrix of :mod:`prefcal.home.features`.
    """

    relevance: np.ndarray  # (n, J), type blocks of K, best first
    X: np.ndarray  # (n, d)
    shares: dict[int, np.ndarray]
    arms: np.ndarray  # (A, G) arm grid
    theta: np.ndarray  # (K,)
    lam: float
    alpha: float
    _arm_slates: np.ndarray | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of requests."""
        return int(self.relevance.shape[0])

    @property
    def k(self) -> int:
        """Slate size K."""
        return int(self.theta.size)

    @property
    def n_types(self) -> int:
        """G."""
        return int(self.arms.shape[1])

    @property
    def item_type(self) -> np.ndarray:
        """Type id of each action id, ``(J,)``."""
        return np.repeat(np.arange(self.n_types), self.k)

    def greedy_slates(self, targets: np.ndarray) -> np.ndarray:
        """Steck's greedy slates towards ``targets (n, G)``: ``(n, K)`` action ids."""
        return steck_greedy_batch(
            self.relevance, self.item_type, targets, self.k, self.lam, self.alpha
        )

    def arm_slates(self) -> np.ndarray:
        """Slates of every arm for every request, ``(n, A, K)`` (computed once, cached)."""
        if self._arm_slates is None:
            n_arms = self.arms.shape[0]
            out = np.empty((self.n, n_arms, self.k), dtype=np.int64)
            for lo in range(0, self.n, ARM_CHUNK):
                hi = min(lo + ARM_CHUNK, self.n)
                rel = np.repeat(self.relevance[lo:hi], n_arms, axis=0)
                tgt = np.tile(self.arms, (hi - lo, 1))
                s = steck_greedy_batch(rel, self.item_type, tgt, self.k, self.lam, self.alpha)
                out[lo:hi] = s.reshape(hi - lo, n_arms, self.k)
            self._arm_slates = out
        return self._arm_slates

    def slates_for_arms(self, arms: np.ndarray) -> np.ndarray:
        """Slates of one arm per request, ``(n, K)``."""
        if self._arm_slates is not None:
            return self._arm_slates[np.arange(self.n), arms]
        return self.greedy_slates(self.arms[arms])

    def take(self, rows: np.ndarray) -> SlateInput:
        """The input of some requests (keeps computed arm slates)."""
        r = np.asarray(rows)
        return SlateInput(
            self.relevance[r],
            self.X[r],
            {w: s[r] for w, s in self.shares.items()},
            self.arms,
            self.theta,
            self.lam,
            self.alpha,
            None if self._arm_slates is None else self._arm_slates[r],
        )


@dataclass
class SlateDistribution:
    """A policy's slate distribution summarised per request and action id."""

    exposure: np.ndarray  # (n, J) sum_k theta_k P(j at k)
    containment: np.ndarray  # (n, J) P(j in slate)
    mix: np.ndarray  # (n, G) the policy's type mix (target / arm / blend mix)
    action_dist: np.ndarray | None = None  # (n, A) for arm policies


@dataclass
class SampledSlates:
    """One served slate per request, with the chosen arm and its propensity for arm policies."""

    slates: np.ndarray  # (n, K) action ids
    arm: np.ndarray  # (n,) int64, -1 when the policy has no arms
    pscore: np.ndarray  # (n,) float, nan when the policy has no arms


def exposure_from_slates(
    slates: np.ndarray, theta: np.ndarray, n_actions: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exposure and containment of slates, optionally a weighted mixture of slates.

    ``slates`` is ``(n, K)`` (one slate per request) or ``(n, A, K)`` with ``weights (n, A)``
    (mixture weights summing to one per row). Returns ``(exposure, containment)``, each
    ``(n, n_actions)``: ``e_ij = sum_a w_ia sum_k theta_k 1[s_iak = j]``,
    ``c_ij = sum_a w_ia 1[j in s_ia]`` (items appear at most once in a slate).
    """
    s = np.asarray(slates, dtype=np.int64)
    if s.ndim == 2:
        s = s[:, None, :]
        w = np.ones((s.shape[0], 1))
    else:
        if weights is None:
            raise ValueError("weights are required with (n, A, K) slates")
        w = np.asarray(weights, dtype=np.float64)
    n, n_arms, k = s.shape
    flat = (np.arange(n)[:, None, None] * n_actions + s).ravel()
    wk = (w[:, :, None] * theta[None, None, :k]).ravel()
    exposure = np.bincount(flat, weights=wk, minlength=n * n_actions).reshape(n, n_actions)
    wc = np.broadcast_to(w[:, :, None], s.shape).ravel()
    containment = np.bincount(flat, weights=wc, minlength=n * n_actions).reshape(n, n_actions)
    return exposure, containment


def nearest_arm(mix: np.ndarray, arms: np.ndarray) -> np.ndarray:
    """Index of the arm closest to each row of ``mix`` in L1 distance (ties: lowest index)."""
    d = np.abs(np.asarray(mix)[:, None, :] - arms[None, :, :]).sum(axis=2)
    return np.argmin(d, axis=1)


class HomePolicy:
    """Interface of the Home policies (see the module docstring)."""

    name: str = "policy"

    def distribution(self, inp: SlateInput) -> SlateDistribution:  # pragma: no cover - abstract
        """Exposure, containment and mix per request."""
        raise NotImplementedError

    def sample(
        self, inp: SlateInput, u_arm: np.ndarray, rng: np.random.Generator | np.ndarray
    ) -> SampledSlates:  # pragma: no cover - abstract
        """One slate per request; ``u_arm (n,)`` are uniforms for an arm choice, ``rng`` any
        other randomness (a generator, or ``(n, K)`` slot uniforms of the requests)."""
        raise NotImplementedError


class CalibratedPolicy(HomePolicy):
    """Steck's greedy slate towards ``target(inp) -> (n, G)`` (SC-W, popularity)."""

    def __init__(self, name: str, target: Callable[[SlateInput], np.ndarray]) -> None:
        self.name = name
        self.target = target

    def _slates(self, inp: SlateInput) -> tuple[np.ndarray, np.ndarray]:
        tgt = np.broadcast_to(np.asarray(self.target(inp), dtype=np.float64), (inp.n, inp.n_types))
        return inp.greedy_slates(np.ascontiguousarray(tgt)), tgt

    def distribution(self, inp: SlateInput) -> SlateDistribution:
        slates, tgt = self._slates(inp)
        e, c = exposure_from_slates(slates, inp.theta, inp.relevance.shape[1])
        return SlateDistribution(e, c, tgt / tgt.sum(axis=1, keepdims=True))

    def sample(
        self, inp: SlateInput, u_arm: np.ndarray, rng: np.random.Generator | np.ndarray
    ) -> SampledSlates:
        slates, _ = self._slates(inp)
        return SampledSlates(slates, np.full(inp.n, -1), np.full(inp.n, np.nan))


class BlendPolicy(HomePolicy):
    """Multinomial blending with ``mix(inp) -> (n, G)`` (MB global / per-user)."""

    def __init__(self, name: str, mix: Callable[[SlateInput], np.ndarray]) -> None:
        self.name = name
        self.mix = mix

    def _mix(self, inp: SlateInput) -> np.ndarray:
        m = np.broadcast_to(np.asarray(self.mix(inp), dtype=np.float64), (inp.n, inp.n_types))
        return m / m.sum(axis=1, keepdims=True)

    def distribution(self, inp: SlateInput) -> SlateDistribution:
        m = self._mix(inp)
        k = inp.k
        r = np.arange(k)[:, None]  # rank within type
        s = np.arange(k)[None, :]  # slot
        binom = np.array(
            [[comb(int(b), int(a)) if a <= b else 0 for b in range(k)] for a in range(k)],
            dtype=np.float64,
        )  # [r, s] = C(s, r)
        mg = m[:, :, None, None]
        with np.errstate(invalid="ignore"):
            p = mg ** (r + 1) * (1.0 - mg) ** np.maximum(s - r, 0) * binom  # (n, G, r, s)
        p = np.where(r <= s, p, 0.0)
        exposure = (p * inp.theta[None, None, None, :]).sum(axis=3).reshape(inp.n, -1)
        containment = p.sum(axis=3).reshape(inp.n, -1)
        return SlateDistribution(exposure, containment, m)

    def sample(
        self, inp: SlateInput, u_arm: np.ndarray, rng: np.random.Generator | np.ndarray
    ) -> SampledSlates:
        slates = multinomial_blend_batch(inp.relevance, inp.item_type, self._mix(inp), inp.k, rng)
        return SampledSlates(slates, np.full(inp.n, -1), np.full(inp.n, np.nan))


class ArmPolicy(HomePolicy):
    """A distribution over the arm grid, ``action_dist(inp) -> (n, A)``; slates by Steck's greedy.

    ``action_dist`` may return ``(n, A, 1)`` (obp layout); it is squeezed.
    """

    def __init__(self, name: str, action_dist: Callable[[SlateInput], np.ndarray]) -> None:
        self.name = name
        self._action_dist = action_dist
        self._last: tuple[SlateInput, np.ndarray] | None = None

    def action_dist(self, inp: SlateInput) -> np.ndarray:
        """``pi(a | x_i)``, ``(n, A)``, rows sum to one (the last input's result is cached)."""
        if self._last is not None and self._last[0] is inp:
            return self._last[1]
        d = np.asarray(self._action_dist(inp), dtype=np.float64)
        if d.ndim == 3:
            d = d[:, :, 0]
        if d.shape != (inp.n, inp.arms.shape[0]):
            raise ValueError(
                f"{self.name}: action_dist has shape {d.shape}, expected "
                f"({inp.n}, {inp.arms.shape[0]})"
            )
        self._last = (inp, d)
        return d

    def distribution(self, inp: SlateInput) -> SlateDistribution:
        d = self.action_dist(inp)
        n_actions = inp.relevance.shape[1]
        if np.all(d.max(axis=1) >= 1.0):  # deterministic: only the chosen arm's slate
            slates = inp.slates_for_arms(np.argmax(d, axis=1))
            e, c = exposure_from_slates(slates, inp.theta, n_actions)
        else:
            e, c = exposure_from_slates(inp.arm_slates(), inp.theta, n_actions, d)
        return SlateDistribution(e, c, d @ inp.arms, d)

    def sample_arms(self, inp: SlateInput, u_arm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arm per request by inverse CDF of ``pi(.|x_i)`` at ``u_arm``; returns (arm, pscore)."""
        d = self.action_dist(inp)
        cum = np.cumsum(d, axis=1)
        arm = np.minimum(np.sum(cum <= (u_arm * cum[:, -1])[:, None], axis=1), d.shape[1] - 1)
        rows = np.arange(inp.n)
        while True:  # never an arm of probability zero (rounding at the top)
            zero = d[rows, arm] <= 0
            if not zero.any():
                break
            arm = np.where(zero, arm - 1, arm)
        return arm.astype(np.int64), d[rows, arm]

    def sample(
        self, inp: SlateInput, u_arm: np.ndarray, rng: np.random.Generator | np.ndarray
    ) -> SampledSlates:
        arm, pscore = self.sample_arms(inp, u_arm)
        return SampledSlates(inp.slates_for_arms(arm), arm, pscore)
