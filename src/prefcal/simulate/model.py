r"""The simulated user model: content-type preference in context, taste fit, daily rhythm.

This module is the single definition of how a simulated user behaves. The organic-listening
simulator (:mod:`prefcal.simulate.listening`) draws from it, the truth sidecar tabulates it, and the
Home-page environment and validation code call it. Every function is vectorised: the per-user
parameters are arrays with one row per *row of the request* (use :meth:`UserParams.take` to repeat a
user over many contexts), contexts are arrays that broadcast against them.

Notation (u a user, h the hour of day in UTC 0..24, w = 1 on Saturday/Sunday else 0, d a device,
tau in [0, 1] the position in the simulated period, k a content type):

Content-type preference (the quantity a context-aware recommender should follow)
    .. math::

        \eta_{u,k}(h, w, d, \tau) = b_{u,k}(\tau)
            + s\,c_u\,\bigl[A_k(h, w; m_u, n_u) + E_{d,k}\bigr],
        \qquad p_{u,k} = \frac{e^{\eta_{u,k}}}{\sum_j e^{\eta_{u,j}}}

    with music the reference type (``b = A = E = 0`` for music),

    * ``b_u(tau) = (1 - tau) b_u^start + tau b_u^end``: the user's baseline log-odds of podcast and
      audiobook against music, drifting linearly over the period (``type_drift``);
    * ``s`` = ``context_strength`` (config), ``c_u`` > 0 the user's context sensitivity (mean 1);
      ``s = 0`` makes ``p`` the same in every context;
    * hour effects, with ``phi(x; sigma) = exp(-x^2 / (2 sigma^2))`` of the circular hour gap x:
      ``A_podcast = 2.2 (1 - 0.75 w) phi(h - m_u; 1.0) + 0.8 (1 - 0.5 w) phi(h - m_u - 9.5; 1.25)``
      (morning and evening commute around the user's commute hour m_u),
      ``A_audiobook = 2.2 phi(h - n_u; 1.5) + 0.6 w phi(h - 15; 2.5)``
      (bedtime around the user's night hour n_u, weekend afternoons);
    * device effects ``E`` (:data:`DEVICE_EFFECTS`): podcasts up on mobile and tv (video),
      audiobooks up on smart speakers, both down on desktop.

Taste
    ``theta_u(tau) = (1 - tau) theta_u^start + tau theta_u^end``, a distribution over genres
    (``drift`` moves ``theta^end`` towards a fresh draw). An item of genre g fits the user with
    ``taste_fit = theta_u(tau)[g] / max_g' theta_u(tau)[g']`` in [0, 1].

Daily rhythm (when sessions start and on which device)
    ``a_u(h | w)`` proportional to ``0.02 + sum_c alpha_{u,c}^w phi(h + 0.5 - mu_c; sigma_c)`` over
    five components (:func:`session_hour_probs`), and
    ``P(d | h, w) proportional to device_mix_{u,d} kappa_d(h, w)`` (:func:`device_probs`).

Sessions and streams
    A session starts at (h, w, d); its type is drawn from ``q_k = (p_k / L_k) / sum_j p_j / L_j``
    where ``L_k`` is the mean number of streams >= 30 s in a session of type k
    (``plays_per_session``). A session of type k then holds ``1 + Poisson(L_k - 1)`` streams, so the
    expected share of type k among streams >= 30 s started in that context is exactly ``p_k``.
    Skips (plays < 30 s) come on top and do not count.

Habit
    Habitual users additionally play that day's episode of their daily show on active weekdays
    with probability ``habit_strength``, on mobile, starting at ``m_u + N(0, 0.2)`` hours.
    :func:`expected_stream_mix` gives the resulting expected type mix of streams >= 30 s:

    .. math::

        \mathrm{mix}_k = \frac{\lambda_u a_u(h|w) P(d|h,w) p_k / Z + H\,[k = \mathrm{podcast}]}
                              {\lambda_u a_u(h|w) P(d|h,w) / Z + H},\qquad Z = \sum_j p_j / L_j,

    with ``H = [w = 0][d = mobile] habit_strength P(habit starts in hour h)`` for habitual users
    and 0 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import ndtr

CONTENT_TYPES = ("music", "podcast", "audiobook")
DEVICES = ("mobile", "desktop", "speaker", "tv")
MUSIC, PODCAST, AUDIOBOOK = 0, 1, 2
MOBILE, DESKTOP, SPEAKER, TV = 0, 1, 2, 3

#: E[d, k]: additive log-odds of type k on device d (rows follow :data:`DEVICES`).
DEVICE_EFFECTS = np.array(
    [
        [0.0, 0.4, 0.2],  # mobile: commute podcasts, audiobooks on the go
        [0.0, -0.7, -1.0],  # desktop: music while working
        [0.0, 0.3, 0.7],  # speaker: audiobooks and talk at home
        [0.0, 0.9, -1.2],  # tv: video podcasts
    ]
)
#: Sizes of the hour effects (see the module docstring).
PODCAST_MORNING, PODCAST_EVENING = 2.2, 0.8
AUDIOBOOK_NIGHT, AUDIOBOOK_WEEKEND = 2.2, 0.6
#: Spread (hours) of a habitual user's start time around the commute hour.
HABIT_HOUR_SD = 0.2
#: Floor of the hourly activity density before normalisation.
ACTIVITY_FLOOR = 0.02
#: Widths (hours) of the five weekday / weekend activity components.
WEEKDAY_WIDTHS = np.array([0.9, 1.0, 1.0, 1.75, 1.5])
WEEKEND_WIDTHS = np.array([1.75, 2.0, 1.5, 1.75, 1.5])
#: Centres of the weekend components that do not depend on the user (the last is the night hour).
WEEKEND_CENTRES = np.array([10.5, 14.5, 17.5, 20.5])


def device_codes(names: np.ndarray | list[str]) -> np.ndarray:
    """Integer codes (indices into :data:`DEVICES`) of device names such as ``"mobile"``."""
    arr = np.asarray(names, dtype=object)
    lookup = {name: i for i, name in enumerate(DEVICES)}
    bad = sorted({str(v) for v in np.unique(arr.astype(str)) if v not in lookup})
    if bad:
        raise ValueError(f"unknown device(s) {bad}; the model knows {list(DEVICES)}")
    codes, uniques = np.unique(arr.astype(str), return_inverse=True)
    return np.asarray([lookup[c] for c in codes.tolist()], dtype=np.int64)[
        uniques.reshape(arr.shape)
    ]


def circular_gap(hour: np.ndarray | float, centre: np.ndarray | float) -> np.ndarray:
    """Signed gap ``hour - centre`` on the 24-hour circle, in [-12, 12)."""
    return np.mod(np.asarray(hour, dtype=float) - centre + 12.0, 24.0) - 12.0


def bump(
    hour: np.ndarray | float, centre: np.ndarray | float, width: np.ndarray | float
) -> np.ndarray:
    """``phi = exp(-gap^2 / (2 width^2))`` of the circular gap between ``hour`` and ``centre``."""
    gap = circular_gap(hour, centre)
    return np.exp(-0.5 * (gap / width) ** 2)


@dataclass(frozen=True)
class UserParams:
    """Latent parameters of n simulated users (row i = one user, or one request of a user).

    Arrays are numpy with the first axis of length n; ``plays_per_session`` is shared.
    """

    user_index: np.ndarray  # (n,) int64, global user number u (folder sim_{u:06d})
    specialist: np.ndarray  # (n,) bool, taste mass on 1-2 genres
    taste_start: np.ndarray  # (n, G) theta at tau = 0, rows sum to 1
    taste_end: np.ndarray  # (n, G) theta at tau = 1
    type_base_start: np.ndarray  # (n, 3) b at tau = 0 (music column 0)
    type_base_end: np.ndarray  # (n, 3) b at tau = 1
    context_strength: np.ndarray  # (n,) s (the config value, repeated)
    context_sensitivity: np.ndarray  # (n,) c_u
    commute_hour: np.ndarray  # (n,) m_u, hours
    night_hour: np.ndarray  # (n,) n_u, hours in [0, 24)
    device_mix: np.ndarray  # (n, 4) device weights, rows sum to 1, 0 = device not owned
    weekday_activity: np.ndarray  # (n, 5) weights of the weekday activity components
    weekend_activity: np.ndarray  # (n, 5) weights of the weekend activity components
    sessions_per_day: np.ndarray  # (n,) lambda_u, mean sessions on an active day
    active_day_prob: np.ndarray  # (n,) probability that a day is active
    habitual: np.ndarray  # (n,) bool
    habit_show: np.ndarray  # (n,) int64 show_id of the daily show, -1 when not habitual
    habit_strength: np.ndarray  # (n,) probability of the habit on an active weekday
    plays_per_session: np.ndarray  # (n, 3) L_k, mean streams >= 30 s per session of type k

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.user_index.shape[0])

    def take(self, rows: np.ndarray | list[int]) -> UserParams:
        """The parameters of ``rows`` (repeat a user to evaluate it in many contexts)."""
        idx = np.asarray(rows, dtype=np.int64)
        return UserParams(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @staticmethod
    def concat(parts: list[UserParams]) -> UserParams:
        """Stack several parameter sets row-wise."""
        return UserParams(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(UserParams)
            }
        )

    def to_table(self) -> pa.Table:
        """One row per user; matrices become fixed-size list columns."""
        cols: dict[str, pa.Array] = {}
        for f in fields(self):
            arr = np.asarray(getattr(self, f.name))
            if arr.ndim == 1:
                cols[f.name] = pa.array(arr)
            else:
                flat = pa.array(np.ascontiguousarray(arr, dtype=np.float64).reshape(-1))
                cols[f.name] = pa.FixedSizeListArray.from_arrays(flat, arr.shape[1])
        return pa.table(cols)

    @classmethod
    def from_table(cls, table: pa.Table) -> UserParams:
        """Inverse of :meth:`to_table` (extra columns of ``table`` are ignored)."""
        out: dict[str, np.ndarray] = {}
        for f in fields(cls):
            if f.name not in table.column_names:
                raise ValueError(f"user table lacks column {f.name!r}")
            col = table.column(f.name).combine_chunks()
            if pa.types.is_fixed_size_list(col.type):
                width = col.type.list_size
                out[f.name] = col.flatten().to_numpy().reshape(-1, width)
            else:
                out[f.name] = col.to_numpy(zero_copy_only=False)
        return cls(**out)


def load_user_params(truth_dirs: list[str | Path] | str | Path) -> UserParams:
    """Read ``users.parquet`` of one or more truth directories (``results/truth/users/shard_*``).

    Rows are returned sorted by ``user_index`` so the result does not depend on the sharding.
    """
    dirs = [truth_dirs] if isinstance(truth_dirs, str | Path) else list(truth_dirs)
    if not dirs:
        raise ValueError("load_user_params needs at least one truth directory")
    tables = []
    for d in dirs:
        path = Path(d) / "users.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist (run `prefcal simulate users` first)")
        tables.append(pq.read_table(path))
    params = UserParams.from_table(pa.concat_tables(tables))
    return params.take(np.argsort(params.user_index, kind="stable"))


def _as_col(x: np.ndarray | float | int) -> np.ndarray:
    """A context argument as an array that broadcasts against per-row parameters."""
    return np.asarray(x)


def hour_effects(
    hour: np.ndarray | float,
    weekend: np.ndarray | bool,
    commute_hour: np.ndarray,
    night_hour: np.ndarray,
) -> np.ndarray:
    """``A_k(h, w; m, n)`` for k = music, podcast, audiobook, shape ``broadcast + (3,)``."""
    h = _as_col(hour).astype(float)
    w = _as_col(weekend).astype(float)
    pod = PODCAST_MORNING * (1.0 - 0.75 * w) * bump(h, commute_hour, 1.0) + PODCAST_EVENING * (
        1.0 - 0.5 * w
    ) * bump(h, commute_hour + 9.5, 1.25)
    book = AUDIOBOOK_NIGHT * bump(h, night_hour, 1.5) + AUDIOBOOK_WEEKEND * w * bump(h, 15.0, 2.5)
    pod, book = np.broadcast_arrays(pod, book)
    return np.stack([np.zeros_like(pod), pod, book], axis=-1)


def type_logits(
    params: UserParams,
    hour: np.ndarray | float,
    weekend: np.ndarray | bool,
    device: np.ndarray | int,
    tau: np.ndarray | float = 1.0,
) -> np.ndarray:
    """``eta_{u,k}(h, w, d, tau)`` of the module docstring, shape (n, 3)."""
    tau_ = np.asarray(tau, dtype=float)[..., None]
    base = (1.0 - tau_) * params.type_base_start + tau_ * params.type_base_end
    dev = np.asarray(device, dtype=np.int64)
    if np.any((dev < 0) | (dev >= len(DEVICES))):
        raise ValueError(f"device must be an integer in 0..{len(DEVICES) - 1} ({DEVICES})")
    effect = (
        hour_effects(hour, weekend, params.commute_hour, params.night_hour) + DEVICE_EFFECTS[dev]
    )
    scale = (params.context_strength * params.context_sensitivity)[:, None]
    return base + scale * effect


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def content_type_probs(
    params: UserParams,
    hour: np.ndarray | float,
    weekend: np.ndarray | bool,
    device: np.ndarray | int,
    tau: np.ndarray | float = 1.0,
) -> np.ndarray:
    """``p_{u,k}(h, w, d, tau)``: the user's preferred content-type mix in a context, (n, 3).

    Columns follow :data:`CONTENT_TYPES`; rows sum to 1. ``hour`` is the UTC hour of day (simulated
    users live in UTC+0 without daylight saving, so it is also local time); ``weekend`` is 1 on
    Saturday and Sunday; ``device`` indexes :data:`DEVICES`; ``tau`` = days since the start / days.
    """
    return softmax(type_logits(params, hour, weekend, device, tau))


def session_type_probs(
    params: UserParams,
    hour: np.ndarray | float,
    weekend: np.ndarray | bool,
    device: np.ndarray | int,
    tau: np.ndarray | float = 1.0,
) -> np.ndarray:
    """``q_k = (p_k / L_k) / sum_j p_j / L_j``: the type of a session started in the context."""
    q = content_type_probs(params, hour, weekend, device, tau) / params.plays_per_session
    return q / q.sum(axis=-1, keepdims=True)


def taste_mix(params: UserParams, tau: np.ndarray | float = 1.0) -> np.ndarray:
    """``theta_u(tau)``, (n, G), rows sum to 1."""
    tau_ = np.asarray(tau, dtype=float)[..., None]
    return (1.0 - tau_) * params.taste_start + tau_ * params.taste_end


def taste_fit(
    params: UserParams, item_genre: np.ndarray | int, tau: np.ndarray | float = 1.0
) -> np.ndarray:
    """``theta_u(tau)[g] / max theta_u(tau)`` in [0, 1] for item genres g.

    ``item_genre`` of shape (n,) gives one item per row; shape (n, m) gives m items per row.
    """
    theta = taste_mix(params, tau)
    rel = theta / theta.max(axis=1, keepdims=True)
    g = np.asarray(item_genre, dtype=np.int64)
    if np.any((g < 0) | (g >= theta.shape[1])):
        raise ValueError(f"item_genre must be in 0..{theta.shape[1] - 1}")
    if g.ndim == 0:
        return rel[:, int(g)]
    if g.ndim == 1:
        return np.take_along_axis(rel, g[:, None], axis=1)[:, 0]
    return np.take_along_axis(rel, g, axis=1)


def distinct_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)`` of the rows of ``columns`` (arrays with one row per entry of their
    first axis, compared bit for bit): ``first`` indexes one row of each distinct value, and
    ``rows[first][inverse] == rows``.

    A function of the row that is evaluated on ``first`` only and expanded with ``inverse`` gives
    the same bits as evaluating it on every row (used where a user is repeated over many cells).
    """
    n = int(np.asarray(columns[0]).shape[0])
    key = np.ascontiguousarray(
        np.column_stack([np.asarray(c, dtype=np.float64).reshape(n, -1) for c in columns])
    )
    rows = key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).reshape(n)
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    return first, inverse.reshape(n)


def session_hour_probs(params: UserParams, weekend: bool) -> np.ndarray:
    """``a_u(h | w)`` for h = 0..23, (n, 24), rows sum to 1.

    Weekday components: commute m_u, lunch 12.5, evening commute m_u + 9.5, evening 20.0, night
    n_u; weekend: 10.5, 14.5, 17.5, 20.5 and n_u; widths :data:`WEEKDAY_WIDTHS` /
    :data:`WEEKEND_WIDTHS`; weights ``weekday_activity`` / ``weekend_activity``. Computed once per
    distinct user (:func:`distinct_rows`), so repeating a user over many rows costs nothing.
    """
    weights = params.weekend_activity if weekend else params.weekday_activity
    first, inverse = distinct_rows(params.commute_hour, params.night_hour, weights)
    a = _session_hour_density(
        params.commute_hour[first], params.night_hour[first], weights[first], weekend
    )
    return a[inverse]


def _session_hour_density(
    commute_hour: np.ndarray, night_hour: np.ndarray, weights: np.ndarray, weekend: bool
) -> np.ndarray:
    """:func:`session_hour_probs` of every row (no de-duplication)."""
    n = commute_hour.shape[0]
    hours = np.arange(24, dtype=float) + 0.5
    if weekend:
        centres = np.column_stack([np.broadcast_to(WEEKEND_CENTRES, (n, 4)), night_hour[:, None]])
        widths = WEEKEND_WIDTHS
    else:
        m = commute_hour[:, None]
        centres = np.column_stack(
            [m, np.full((n, 1), 12.5), m + 9.5, np.full((n, 1), 20.0), night_hour[:, None]]
        )
        widths = WEEKDAY_WIDTHS
    dens = bump(hours[None, :, None], centres[:, None, :], widths[None, None, :])
    a = ACTIVITY_FLOOR + np.einsum("nhc,nc->nh", dens, weights)
    return a / a.sum(axis=1, keepdims=True)


def device_hour_affinity(
    hour: np.ndarray | float, weekend: np.ndarray | bool, commute_hour: np.ndarray
) -> np.ndarray:
    """``kappa_d(h, w)``, shape ``broadcast + (4,)``: how likely each device is used at an hour.

    mobile ``1 + 1.5 (1 - w) [phi(h - m; 1) + phi(h - m - 9.5; 1)]``; desktop
    ``0.2 + 2 [9 <= h < 18]`` on weekdays, 0.5 at weekends; speaker
    ``0.5 + phi(h - 7; 1.5) + 1.5 phi(h - 19.5; 2)``; tv
    ``0.2 + 2 phi(h - 21; 1.5) + w phi(h - 15; 3)``.
    """
    h = _as_col(hour).astype(float)
    w = _as_col(weekend).astype(float)
    m = commute_hour
    mobile = 1.0 + 1.5 * (1.0 - w) * (bump(h, m, 1.0) + bump(h, m + 9.5, 1.0))
    work = ((h >= 9.0) & (h < 18.0)).astype(float)
    desktop = (1.0 - w) * (0.2 + 2.0 * work) + w * 0.5
    speaker = 0.5 + bump(h, 7.0, 1.5) + 1.5 * bump(h, 19.5, 2.0)
    tv = 0.2 + 2.0 * bump(h, 21.0, 1.5) + w * bump(h, 15.0, 3.0)
    parts = np.broadcast_arrays(mobile, desktop, speaker, tv)
    return np.stack(parts, axis=-1)


def device_probs(
    params: UserParams, hour: np.ndarray | float, weekend: np.ndarray | bool
) -> np.ndarray:
    """``P(d | h, w) = device_mix_d kappa_d(h, w) / sum``, (n, 4)."""
    p = params.device_mix * device_hour_affinity(hour, weekend, params.commute_hour)
    return p / p.sum(axis=-1, keepdims=True)


def habit_hour_probs(params: UserParams) -> np.ndarray:
    """P(a habit session starts in hour h), (n, 24): start = m_u + N(0, 0.2^2) hours."""
    first, inverse = distinct_rows(params.commute_hour)
    edges = np.arange(25, dtype=float)[None, :]
    cdf = ndtr((edges - params.commute_hour[first, None]) / HABIT_HOUR_SD)
    return np.diff(cdf, axis=1)[inverse]


def expected_stream_mix(
    params: UserParams,
    hour: np.ndarray | int,
    weekend: np.ndarray | bool,
    device: np.ndarray | int,
    tau: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Expected type mix of streams >= 30 s started in (h, w, d), habit included, (n, 3).

    Formula in the module docstring; equals :func:`content_type_probs` for non-habitual users and
    in cells without any expected stream (a device the user does not own). ``hour`` must be an
    integer hour here (the habit density is per hour bin).
    """
    n = params.n
    h = np.broadcast_to(np.asarray(hour, dtype=np.int64), (n,))
    w = np.broadcast_to(np.asarray(weekend, dtype=bool), (n,))
    d = np.broadcast_to(np.asarray(device, dtype=np.int64), (n,))
    p = content_type_probs(params, h, w, d, tau)
    z = (p / params.plays_per_session).sum(axis=1)
    rows = np.arange(n)
    a = np.where(
        w, session_hour_probs(params, True)[rows, h], session_hour_probs(params, False)[rows, h]
    )
    pd_ = device_probs(params, h, w)[rows, d]
    regular = params.sessions_per_day * a * pd_ / z
    habit = (
        (params.habitual & ~w & (d == MOBILE))
        * params.habit_strength
        * habit_hour_probs(params)[rows, h]
    )
    num = regular[:, None] * p
    num[:, PODCAST] += habit
    total = num.sum(axis=1, keepdims=True)
    # a device the user does not own (and no habit) has no streams: report the preference there
    return np.where(total > 0, num / np.where(total > 0, total, 1.0), p)


def weekend_flag(day_index: np.ndarray, start_weekday: int) -> np.ndarray:
    """1 for Saturday/Sunday given days since the start and the start's weekday (Monday = 0)."""
    return ((np.asarray(day_index) + start_weekday) % 7) >= 5
