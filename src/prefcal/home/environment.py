r"""The Home surface as a simulated environment: requests, candidates, streams, next-day return.

All user behaviour comes from :mod:`prefcal.simulate.model` (the single definition); this module
only composes it for Home requests.

Requests
    User ``u`` makes ``n`` Home requests in a period of days ``[d_0, d_1)``: the day is uniform on
    the period, the hour ``h ~ a_u(. | w)`` (:func:`~prefcal.simulate.model.session_hour_probs`,
    ``w`` = weekend), the minute uniform, the device ``d ~ P(d | h, w)``
    (:func:`~prefcal.simulate.model.device_probs`), and ``tau = (day + h / 24) / days``. Candidates
    come from :mod:`prefcal.home.candidates`. Every user draws from their own generators
    ``default_rng(SeedSequence([seed, stream, u]))`` (streams :data:`STREAMS`), so a user's requests
    and outcomes do not depend on the other users (a subsample of users is a subset of the study).

Streams (reward)
    Each request has a latent *intent* type ``T ~ pi_u(h, w, d, tau)``, the user's content-type
    preference in the context (``home.type_preference``: ``stream_mix`` =
    :func:`~prefcal.simulate.model.expected_stream_mix`, habits included, or ``preference`` =
    :func:`~prefcal.simulate.model.content_type_probs`): a user opening Home on the morning commute
    mostly wants a podcast. The user looks at the slate at all with probability ``g`` =
    ``home.engagement`` (one draw per request), and then examines slot ``k`` with probability
    ``theta_k`` (:mod:`prefcal.home.examination`); an examined item ``j`` of type ``t_j`` is
    streamed for at least 30 s with the attraction

    .. math::

        a_{j \mid T} = \sigma\bigl(c_0 + c_f\, (\mathrm{fit}_{u,j}(\tau) - 1)
                                   - c_x\, 1[t_j \ne T]\bigr),

    ``sigma`` the logistic function, ``fit`` the true taste fit and ``(c_0, c_f, c_x)`` =
    ``home.stream_model`` (intercept, fit_weight, off_intent_penalty): ``c_0`` is the attraction
    logit of a perfectly fitting item of the intended type, ``c_x`` how much less the user wants
    other types. Given the intent and engagement, slots are independent. The reward of a slot is
    ``r_k = 1[stream >= 30 s]``; marginally a slot holding ``j`` is streamed with probability
    ``g theta_k a_j``, ``a_j = sum_t pi_{u,t} a_{j|t}`` (:meth:`HomeEnvironment.attraction`), so
    expected streams are linear in the slate (the position-based model with examination
    ``g theta_k``, :attr:`HomeEnvironment.examination`), while the chance of *at least one* stream
    saturates within an intent and so rewards a slate whose type mix follows the intent
    distribution (the intents compete for the same slots): the case for calibrated, context-aware
    slates.

Next-day return (long-term signal)
    .. math::

        P(\text{return} \mid \text{slate outcome}) = b_u + (1 - b_u)\,
            \frac{w_s S + w_p S_{pod}}{K},\qquad b_u = \beta\, \text{active\_day\_prob}_u,

    with ``S`` the number of streams and ``S_pod`` the podcast streams of the request,
    ``beta, w_s, w_p`` = ``home.return_model`` (base_scale, stream_weight, podcast_weight;
    ``w_s + w_p <= 1`` keeps it a probability). It is linear in the streams, so its expectation
    under any policy follows from the policy's slot exposures (:meth:`HomeEnvironment.expected`).

Expected outcomes of a policy
    With ``e_j = sum_k theta_k P(j at slot k)`` the *exposure* and ``c_j = P(j in slate)`` the
    *containment* of candidate ``j`` (both from :mod:`prefcal.home.policies`), a request's expected
    streams are ``g sum_j e_j a_j``, podcast streams ``g sum_{j pod} e_j a_j``, podcast
    impressions ``sum_{j pod} c_j``, minutes ``g sum_j e_j a_j m_j`` and return probability
    ``b + (1 - b) (w_s E[S] + w_p E[S_pod]) / K``. These are the TRUE values of a policy; they never
    come from logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from prefcal.home.candidates import (
    Candidates,
    HomeCatalogue,
    PoolRandoms,
    action_types,
    draw_candidates,
    pool_randoms,
)
from prefcal.home.examination import examination_probs
from prefcal.home.settings import HomeSettings
from prefcal.simulate import model
from prefcal.simulate.catalogue import start_day64

__all__ = ["STREAMS", "HomeEnvironment", "Outcomes", "RequestBatch"]

#: Random streams of a user: ``SeedSequence([seed, stream, u])``.
STREAMS = {"log": 41, "log_outcome": 42, "ab": 43, "ab_outcome": 44, "ab_slots": 50}
MS_DAY = 86_400_000
MS_HOUR = 3_600_000
MS_MINUTE = 60_000
#: Users whose candidates are drawn together (bounds the memory of the draws).
USER_CHUNK = 50


@dataclass
class RequestBatch:
    """``n`` Home requests with their candidates.

    ``user_row`` indexes the environment's :class:`~prefcal.simulate.model.UserParams` (truth);
    everything else is what a logging system records.
    """

    user_row: np.ndarray  # (n,) int64
    request_no: np.ndarray  # (n,) int64, number of the request within its user and period
    ts_ms: np.ndarray  # (n,) int64 epoch ms UTC
    day: np.ndarray  # (n,) int64 days since start_date
    hour: np.ndarray  # (n,) int64 0..23
    weekend: np.ndarray  # (n,) bool
    device: np.ndarray  # (n,) int64 index of model.DEVICES
    tau: np.ndarray  # (n,) float position in the simulated period
    cands: Candidates

    @property
    def n(self) -> int:
        """Number of requests."""
        return int(self.user_row.size)

    def take(self, rows: np.ndarray) -> RequestBatch:
        """Some of the requests."""
        r = np.asarray(rows)
        return RequestBatch(
            self.user_row[r],
            self.request_no[r],
            self.ts_ms[r],
            self.day[r],
            self.hour[r],
            self.weekend[r],
            self.device[r],
            self.tau[r],
            self.cands.take(r),
        )


@dataclass
class Outcomes:
    """Realised outcomes of ``n`` served slates."""

    slates: np.ndarray  # (n, K) action ids in slot order
    examined: np.ndarray  # (n, K) bool
    streamed: np.ndarray  # (n, K) bool: stream >= 30 s (the reward)
    returned: np.ndarray  # (n,) bool: Home visit the next day
    intent: np.ndarray | None = None  # (n,) int64 latent intent type (truth; not logged)


class HomeEnvironment:
    """Simulated Home requests of a population (see the module docstring for the model).

    Parameters
    ----------
    params : UserParams
        The users (one row per user), e.g. :func:`prefcal.simulate.model.load_user_params`.
    catalogue : HomeCatalogue
        Items per content type with genres (truth), weights and minutes.
    settings : HomeSettings
        The ``home:`` config section.
    """

    def __init__(
        self, params: model.UserParams, catalogue: HomeCatalogue, settings: HomeSettings
    ) -> None:
        self.params = params
        self.catalogue = catalogue
        self.settings = settings
        self.theta = examination_probs(settings.slate_size, settings.examination_decay)
        #: marginal examination probability of each slot, ``g theta_k`` (the PBM's theta)
        self.examination = settings.engagement * self.theta
        self.types = action_types(settings.slate_size, settings.n_types)
        start = start_day64(settings.start_date)
        self.start_ms = int(start.astype("datetime64[ms]").astype(np.int64))
        self.start_weekday = int((start.astype(np.int64) + 3) % 7)  # Monday = 0
        self._row_of_user = {int(u): i for i, u in enumerate(params.user_index)}

    # ---------------------------------------------------------------- setup
    def with_context_strength(self, strength: float) -> HomeEnvironment:
        """The same population with ``context_strength`` set to ``strength`` for every user."""
        p = self.params
        fields = {f: getattr(p, f) for f in p.__dataclass_fields__}
        fields["context_strength"] = np.full(p.n, float(strength))
        return HomeEnvironment(model.UserParams(**fields), self.catalogue, self.settings)

    def with_settings(self, settings: HomeSettings) -> HomeEnvironment:
        """The same population and catalogue with other Home settings."""
        return HomeEnvironment(self.params, self.catalogue, settings)

    def rows_of(self, user_index: np.ndarray) -> np.ndarray:
        """Rows of ``params`` holding the given ``user_index`` values (clear error if absent)."""
        out = np.empty(len(user_index), dtype=np.int64)
        for i, u in enumerate(np.asarray(user_index).tolist()):
            if int(u) not in self._row_of_user:
                raise ValueError(f"user_index {u} is not in the environment's users")
            out[i] = self._row_of_user[int(u)]
        return out

    def user_rng(self, row: int, stream: str) -> np.random.Generator:
        """Generator of user ``params.user_index[row]`` for one of :data:`STREAMS`."""
        u = int(self.params.user_index[row])
        return np.random.default_rng(
            np.random.SeedSequence([self.settings.seed, STREAMS[stream], u])
        )

    # ------------------------------------------------------------- requests
    def period(self, name: str) -> tuple[int, int]:
        """Days ``[d_0, d_1)`` of ``log`` (the whole Home-log period) or ``ab`` (the test days)."""
        s = self.settings
        if name == "log":
            return s.log_start_day, s.days
        if name == "ab":
            return s.test_start_day, s.days
        raise ValueError(f"unknown period {name!r} (log | ab)")

    def draw_requests(
        self, rows: np.ndarray | None = None, period: str = "log", n_per_user: int | None = None
    ) -> RequestBatch:
        """``n_per_user`` requests of each user in ``rows`` (default: all) in ``period``.

        Defaults: ``home.requests_per_user`` for ``log``, ``home.ab_requests_per_user`` for ``ab``.
        Requests are ordered by user row, then time.
        """
        s = self.settings
        rows = np.arange(self.params.n) if rows is None else np.asarray(rows, dtype=np.int64)
        if n_per_user is None:
            n_per_user = s.requests_per_user if period == "log" else s.ab_requests_per_user
        n_per_user = int(n_per_user)
        d0, d1 = self.period(period)
        if rows.size == 0:
            raise ValueError("draw_requests needs at least one user")
        parts = [
            self._draw_chunk(rows[lo : lo + USER_CHUNK], n_per_user, d0, d1, period)
            for lo in range(0, rows.size, USER_CHUNK)
        ]
        return parts[0] if len(parts) == 1 else _concat_batches(parts)

    def _draw_chunk(
        self, rows: np.ndarray, n_per_user: int, d0: int, d1: int, period: str
    ) -> RequestBatch:
        """Requests of some users (chunks bound the memory of the candidate draws)."""
        s = self.settings
        n_users = rows.size
        n = n_users * n_per_user
        user_row = np.repeat(rows, n_per_user)
        day = np.empty(n, dtype=np.int64)
        u_hour = np.empty(n)
        minute = np.empty(n, dtype=np.int64)
        u_dev = np.empty(n)
        blocks: list[PoolRandoms] = []
        for i, row in enumerate(rows.tolist()):
            rng = self.user_rng(row, period)
            sl = slice(i * n_per_user, (i + 1) * n_per_user)
            day[sl] = rng.integers(d0, d1, n_per_user)
            u_hour[sl] = rng.random(n_per_user)
            minute[sl] = rng.integers(0, 60, n_per_user)
            u_dev[sl] = rng.random(n_per_user)
            blocks.append(pool_randoms(rng, n_per_user, self.catalogue, s.pool_sizes))
        weekend = model.weekend_flag(day, self.start_weekday)
        users = self.params.take(rows)
        cum_wd = np.cumsum(model.session_hour_probs(users, False), axis=1)
        cum_we = np.cumsum(model.session_hour_probs(users, True), axis=1)
        local = np.repeat(np.arange(n_users), n_per_user)
        cum = np.where(weekend[:, None], cum_we[local], cum_wd[local])
        hour = np.minimum(np.sum(cum <= (u_hour * cum[:, -1])[:, None], axis=1), 23)
        hour = hour.astype(np.int64)
        params = self.params.take(user_row)
        device = _inverse_cdf(model.device_probs(params, hour, weekend), u_dev)
        ts = self.start_ms + day * MS_DAY + hour * MS_HOUR + minute * MS_MINUTE
        # requests in time order within each user (rows are grouped by user)
        order = np.lexsort((ts, local))
        day, weekend, hour, device, ts = (a[order] for a in (day, weekend, hour, device, ts))
        randoms = PoolRandoms(
            [np.concatenate([b.draws[g] for b in blocks])[order] for g in range(s.n_types)],
            [np.concatenate([b.noise[g] for b in blocks])[order] for g in range(s.n_types)],
        )
        draw_no = (np.arange(n) % n_per_user)[order]
        stream = STREAMS[period]

        def topup(i: int) -> np.random.Generator:
            """Generator of the rare completion of request i's short pool."""
            u = int(self.params.user_index[user_row[i]])
            seq = np.random.SeedSequence([s.seed, stream, u, 1 + int(draw_no[i])])
            return np.random.default_rng(seq)

        tau = (day + hour / 24.0) / s.days
        cands = draw_candidates(
            randoms,
            params,
            tau,
            self.catalogue,
            s.pool_sizes,
            s.slate_size,
            s.ranker_noise,
            topup,
        )
        return RequestBatch(
            user_row=user_row,
            request_no=np.tile(np.arange(n_per_user, dtype=np.int64), n_users),
            ts_ms=ts.astype(np.int64),
            day=day,
            hour=hour,
            weekend=weekend.astype(bool),
            device=device.astype(np.int64),
            tau=tau,
            cands=cands,
        )

    def outcome_uniforms(self, batch: RequestBatch, period: str = "log") -> np.ndarray:
        """Per request ``2 K + 4`` uniforms from the user's outcome stream (common random numbers).

        Columns: 0 = the policy's arm choice, 1 = the intent, 2..K+1 = examination, K+2..2K+1 =
        stream, 2K+2 = next-day return, 2K+3 = engagement. Row ``i`` is the
        ``request_no[i]``-th row drawn for its user, so every policy run on the same requests sees
        the same numbers.
        """
        return self._user_uniforms(batch, f"{period}_outcome", 2 * self.settings.slate_size + 4)

    def slot_uniforms(self, batch: RequestBatch) -> np.ndarray:
        """Per A/B request ``K`` uniforms from the user's ``ab_slots`` stream: the slot-by-slot
        draws of a stochastic slate builder (multinomial blending), common to every policy and
        independent of the other users (so of the sharding)."""
        return self._user_uniforms(batch, "ab_slots", self.settings.slate_size)

    def _user_uniforms(self, batch: RequestBatch, stream: str, width: int) -> np.ndarray:
        """Row ``i``: the ``request_no[i]``-th row of ``width`` uniforms of its user's stream."""
        out = np.empty((batch.n, width))
        for row in np.unique(batch.user_row).tolist():
            sel = np.flatnonzero(batch.user_row == row)
            m = int(batch.request_no[sel].max()) + 1
            draws = self.user_rng(row, stream).random((m, width))
            out[sel] = draws[batch.request_no[sel]]
        return out

    # ---------------------------------------------------------------- truth
    def user_params(self, batch: RequestBatch) -> model.UserParams:
        """The users' parameters, one row per request."""
        return self.params.take(batch.user_row)

    def type_preference(self, batch: RequestBatch) -> np.ndarray:
        """``pi_u(h, w, d, tau)``: the content-type preference in each request's context, (n, G)."""
        p = self.user_params(batch)
        if self.settings.type_preference == "stream_mix":
            return model.expected_stream_mix(p, batch.hour, batch.weekend, batch.device, batch.tau)
        return model.content_type_probs(p, batch.hour, batch.weekend, batch.device, batch.tau)

    def intent_attraction(self, batch: RequestBatch) -> np.ndarray:
        """``a_{j|t}``: P(stream >= 30 s | slot examined, intent t), shape (n, G, J)."""
        s = self.settings
        fit = model.taste_fit(self.user_params(batch), batch.cands.genre, batch.tau)
        base = s.stream_intercept + s.stream_fit_weight * (fit - 1.0)  # (n, J)
        off = self.types[None, :] != np.arange(s.n_types)[:, None]  # (G, J)
        return expit(base[:, None, :] - s.stream_off_intent * off[None, :, :])

    def attraction(self, batch: RequestBatch) -> np.ndarray:
        """``a_j = sum_t pi_t a_{j|t}``: P(stream >= 30 s | slot examined), (n, J)."""
        pi = self.type_preference(batch)
        return np.einsum("ng,ngj->nj", pi, self.intent_attraction(batch))

    def return_base(self, batch: RequestBatch) -> np.ndarray:
        """``b_u``: next-day return probability without any Home stream, (n,)."""
        return self.settings.return_base_scale * self.params.active_day_prob[batch.user_row]

    def return_prob(
        self, base: np.ndarray, streams: np.ndarray, podcast_streams: np.ndarray
    ) -> np.ndarray:
        """``b + (1 - b) (w_s S + w_p S_pod) / K`` (linear in the streams)."""
        s = self.settings
        lift = (s.return_stream_weight * streams + s.return_podcast_weight * podcast_streams) / (
            s.slate_size
        )
        return base + (1.0 - base) * lift

    def expected(
        self,
        batch: RequestBatch,
        exposure: np.ndarray,
        containment: np.ndarray,
        attraction: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Expected outcomes per request of a policy with the given exposure and containment.

        Returns ``streams``, ``podcast_streams``, ``impressions`` (= K), ``podcast_impressions``,
        ``minutes`` and ``return_prob``, each ``(n,)`` (formulas in the module docstring).
        """
        a = self.attraction(batch) if attraction is None else attraction
        pod = self.types == model.PODCAST
        ea = self.settings.engagement * exposure * a
        streams = ea.sum(axis=1)
        pod_streams = ea[:, pod].sum(axis=1)
        return {
            "streams": streams,
            "podcast_streams": pod_streams,
            "impressions": containment.sum(axis=1),
            "podcast_impressions": containment[:, pod].sum(axis=1),
            "minutes": (ea * batch.cands.minutes).sum(axis=1),
            "return_prob": self.return_prob(self.return_base(batch), streams, pod_streams),
        }

    def draw_outcomes(
        self,
        batch: RequestBatch,
        slates: np.ndarray,
        uniforms: np.ndarray,
        intent_attraction: np.ndarray | None = None,
    ) -> Outcomes:
        """Intents, examinations, streams and next-day returns of served ``slates`` (n, K).

        ``uniforms`` are :meth:`outcome_uniforms` (columns 1..2K+3 are used here): the intent is
        the inverse CDF of ``pi`` at ``U_1``; the user engages when ``U_{2K+3} < g``; slot ``k``
        is examined when also ``U_{2+k} < theta_k`` and streamed when also
        ``U_{K+2+k} < a_{j|T}``; the user returns when ``U_{2K+2} <
        P(return)``. ``intent_attraction`` may pass a precomputed :meth:`intent_attraction`.
        """
        k = self.settings.slate_size
        if slates.shape != (batch.n, k) or (slates.size and slates.min() < 0):
            raise ValueError(f"slates must be full (n, K) = ({batch.n}, {k}) arrays of action ids")
        ia = self.intent_attraction(batch) if intent_attraction is None else intent_attraction
        intent = _inverse_cdf(self.type_preference(batch), uniforms[:, 1])
        a_int = ia[np.arange(batch.n), intent]  # (n, J)
        engaged = uniforms[:, 2 * k + 3] < self.settings.engagement
        examined = engaged[:, None] & (uniforms[:, 2 : k + 2] < self.theta[None, :])
        a_slot = np.take_along_axis(a_int, slates, axis=1)
        streamed = examined & (uniforms[:, k + 2 : 2 * k + 2] < a_slot)
        pod = self.types[slates] == model.PODCAST
        p_ret = self.return_prob(
            self.return_base(batch), streamed.sum(axis=1), (streamed & pod).sum(axis=1)
        )
        return Outcomes(slates, examined, streamed, uniforms[:, 2 * k + 2] < p_ret, intent)


def _inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Category per row of ``probs (n, m)`` for uniforms ``u (n,)`` (never a zero-probability
    one)."""
    cum = np.cumsum(probs, axis=1)
    idx = np.sum(cum <= (u * cum[:, -1])[:, None], axis=1)
    idx = np.minimum(idx, probs.shape[1] - 1)
    rows = np.arange(probs.shape[0])
    while True:
        zero = probs[rows, idx] <= 0
        if not zero.any():
            return idx
        idx = np.where(zero, idx - 1, idx)


def _concat_batches(parts: list[RequestBatch]) -> RequestBatch:
    return RequestBatch(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("user_row", "request_no", "ts_ms", "day", "hour", "weekend", "device", "tau")
        ),
        cands=Candidates.concat([p.cands for p in parts]),
    )
