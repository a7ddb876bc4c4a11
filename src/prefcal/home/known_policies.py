r"""Home slates served by *known* policies on the logged requests (validates the RQ attribution).

The logged Home requests (``log_requests.parquet`` of :mod:`prefcal.home.logging`) carry what a
slate builder needs: the ``J = G K`` candidates' relevance (``cand_relevance``) and the context the
policies see (``x_s<W>_<type>``: the user's W-day type shares with gaps filled, ``x_hr_<type>``:
the context profile at the request's hour and weekday/weekend). A *known policy* following a
target type mix ``p_i`` (one per request) is served on exactly these requests with the logging
policy's mechanism: epsilon-greedy over the arm grid (``home.arm_step``), greedy arm = the arm
nearest (L1, ties to the lowest index) to ``p_i``,

.. math:: \pi(a \mid x_i) = (1 - \varepsilon)\, 1[a = \mathrm{nearest}(p_i)] + \varepsilon / A,

the arm drawn by inverse CDF of one uniform per request (:meth:`ArmPolicy.sample_arms`), and the
arm's slate built by Steck's KL-penalised greedy (``home.lam``, ``home.alpha``) from the logged
candidates (:meth:`SlateInput.arm_slates`). With the logger's own target (the 90-day shares) and
uniforms this reproduces the logged slates exactly. Only the slates' *types* are returned: the
outcome model (streams) does not enter the type attribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from prefcal.home.examination import examination_probs
from prefcal.home.policies import ArmPolicy, SlateInput, nearest_arm
from prefcal.home.settings import HomeSettings
from prefcal.policies import simplex_grid
from prefcal.simulate.model import CONTENT_TYPES

__all__ = [
    "LoggedRequests",
    "arm_type_counts",
    "greedy_arms",
    "known_policy",
    "read_logged_requests",
    "serve_arms",
]


@dataclass
class LoggedRequests:
    """The logged requests of some shards: ids, candidates' relevance and the policies' targets.

    ``shares`` maps a window (days) to the filled type shares ``(n, G)`` the logger saw;
    ``context`` is the normalised context profile ``(n, G)``; ``arm`` the logged arm.
    """

    request_id: np.ndarray  # (n,) object
    participant_id: np.ndarray  # (n,) object
    relevance: np.ndarray  # (n, J) type blocks of K, best first
    shares: dict[int, np.ndarray]
    context: np.ndarray
    arm: np.ndarray

    @property
    def n(self) -> int:
        """Number of requests."""
        return int(self.request_id.size)


def read_logged_requests(
    home_dir: str | Path, shards: Sequence[str], windows: Sequence[int] = (7, 90)
) -> LoggedRequests:
    """Read ``home_dir/shard_NNN/log_requests.parquet`` of every shard (only the columns above)."""
    cols = [f"x_s{w}_{t}" for w in windows for t in CONTENT_TYPES]
    cols += [f"x_hr_{t}" for t in CONTENT_TYPES]
    parts = []
    for s in shards:
        path = Path(home_dir) / f"shard_{s}" / "log_requests.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing (run `prefcal home log`)")
        names = set(pq.read_schema(path).names)
        need = ["request_id", "participant_id", "arm", "cand_relevance", *cols]
        missing = [c for c in need if c not in names]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}")
        parts.append(pq.read_table(path, columns=need))
    rel = []
    for t in parts:
        arr = t.column("cand_relevance").combine_chunks()
        rel.append(arr.flatten().to_numpy().reshape(len(arr), arr.type.list_size))

    def col(name: str, dtype: type | str = np.float64) -> np.ndarray:
        return np.concatenate(
            [t.column(name).to_numpy(zero_copy_only=False) for t in parts]
        ).astype(dtype)

    def block(prefix: str) -> np.ndarray:
        return np.column_stack([col(f"{prefix}_{t}") for t in CONTENT_TYPES])

    ctx = block("x_hr")
    return LoggedRequests(
        request_id=col("request_id", object),
        participant_id=col("participant_id", object),
        relevance=np.concatenate(rel),
        shares={int(w): block(f"x_s{w}") for w in windows},
        context=ctx / ctx.sum(axis=1, keepdims=True),
        arm=col("arm", np.int64),
    )


def _slate_input(relevance: np.ndarray, settings: HomeSettings) -> SlateInput:
    n = relevance.shape[0]
    return SlateInput(
        relevance=relevance,
        X=np.zeros((n, 0)),
        shares={},
        arms=simplex_grid(settings.n_types, settings.arm_step),
        theta=examination_probs(settings.slate_size, settings.examination_decay),
        lam=settings.lam,
        alpha=settings.alpha,
    )


def arm_type_counts(relevance: np.ndarray, settings: HomeSettings, chunk: int = 8192) -> np.ndarray:
    """``(n, A, G)`` int8: items of each type in the slate Steck's greedy builds towards each arm of
    the grid from each request's candidates (computed in chunks of requests to bound memory)."""
    rel = np.asarray(relevance, dtype=np.float64)
    k, g = settings.slate_size, settings.n_types
    if rel.ndim != 2 or rel.shape[1] != g * k:
        raise ValueError(
            f"relevance must be (n, G K) = (n, {g * k}) (home.slate_size = {k}), got {rel.shape}"
        )
    item_type = np.repeat(np.arange(g), k)
    n_arms = simplex_grid(g, settings.arm_step).shape[0]
    out = np.empty((rel.shape[0], n_arms, g), dtype=np.int8)
    for lo in range(0, rel.shape[0], chunk):
        hi = min(lo + chunk, rel.shape[0])
        slates = _slate_input(rel[lo:hi], settings).arm_slates()  # (m, A, K)
        types = item_type[slates]
        for t in range(g):
            out[lo:hi, :, t] = (types == t).sum(axis=2)
    return out


def greedy_arms(target: np.ndarray, settings: HomeSettings) -> np.ndarray:
    """The arm nearest to each row of ``target (n, G)`` (the greedy arm of a known policy)."""
    return nearest_arm(
        np.asarray(target, dtype=np.float64), simplex_grid(settings.n_types, settings.arm_step)
    )


def known_policy(name: str, greedy: np.ndarray, n_arms: int, epsilon: float) -> ArmPolicy:
    """The epsilon-greedy policy of the module docstring with greedy arms ``greedy (n,)``."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    greedy = np.asarray(greedy, dtype=np.int64)

    def dist(inp: SlateInput) -> np.ndarray:
        if inp.n != greedy.size:
            raise ValueError(f"{name}: {greedy.size} greedy arms for {inp.n} requests")
        out = np.full((inp.n, n_arms), epsilon / n_arms)
        out[np.arange(inp.n), greedy] += 1.0 - epsilon
        return out

    return ArmPolicy(name, dist)


def serve_arms(
    greedy: np.ndarray, settings: HomeSettings, epsilon: float, uniforms: np.ndarray
) -> np.ndarray:
    """Arms of the known policy with greedy arms ``greedy`` at the requests' ``uniforms (n,)``."""
    arms = simplex_grid(settings.n_types, settings.arm_step)
    n = int(np.asarray(greedy).size)
    inp = SlateInput(
        relevance=np.zeros((n, 1)),
        X=np.zeros((n, 0)),
        shares={},
        arms=arms,
        theta=np.ones(settings.slate_size),
        lam=settings.lam,
        alpha=settings.alpha,
    )
    arm, _ = known_policy("known", greedy, arms.shape[0], epsilon).sample_arms(inp, uniforms)
    return arm
