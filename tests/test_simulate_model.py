"""The user model API (prefcal.simulate.model): formulas, vectorisation, known answers."""

from __future__ import annotations

import numpy as np
import pytest

from prefcal.simulate import model


def _params(n: int = 3, context_strength: float = 1.0, habitual: bool = False) -> model.UserParams:
    rng = np.random.default_rng(7)
    g = 5
    theta0 = rng.dirichlet(np.ones(g), n)
    theta1 = rng.dirichlet(np.ones(g), n)
    b0 = np.column_stack([np.zeros(n), rng.normal(-1.5, 0.5, n), rng.normal(-3, 0.5, n)])
    return model.UserParams(
        user_index=np.arange(n, dtype=np.int64),
        specialist=np.zeros(n, dtype=bool),
        taste_start=theta0,
        taste_end=theta1,
        type_base_start=b0,
        type_base_end=b0 + 0.3,
        context_strength=np.full(n, context_strength),
        context_sensitivity=rng.gamma(4, 0.25, n),
        commute_hour=np.full(n, 7.5),
        night_hour=np.full(n, 23.0),
        device_mix=np.tile([0.5, 0.3, 0.2, 0.0], (n, 1)),
        weekday_activity=rng.dirichlet(np.ones(5), n),
        weekend_activity=rng.dirichlet(np.ones(5), n),
        sessions_per_day=np.full(n, 2.0),
        active_day_prob=np.full(n, 0.8),
        habitual=np.full(n, habitual),
        habit_show=np.full(n, 4 if habitual else -1, dtype=np.int64),
        habit_strength=np.full(n, 0.9),
        plays_per_session=np.tile([7.0, 1.3, 2.0], (n, 1)),
    )


def test_probs_are_distributions_and_vectorised_equals_loop():
    p = _params(4)
    rng = np.random.default_rng(0)
    m = 50
    rows = rng.integers(0, 4, m)
    hour, we = rng.integers(0, 24, m), rng.random(m) < 0.3
    dev, tau = rng.integers(0, 4, m), rng.random(m)
    rep = p.take(rows)
    got = model.content_type_probs(rep, hour, we, dev, tau)
    assert got.shape == (m, 3)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)
    for i in range(m):
        one = model.content_type_probs(p.take([rows[i]]), hour[i], we[i], dev[i], tau[i])
        np.testing.assert_allclose(one[0], got[i])
    q = model.session_type_probs(rep, hour, we, dev, tau)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    # q proportional to p / L
    ratio = q / (got / rep.plays_per_session)
    np.testing.assert_allclose(ratio / ratio[:, :1], 1.0)


def test_known_answer_podcast_logit_at_commute_hour():
    p = _params(1)
    b = p.type_base_start[0]
    c = p.context_sensitivity[0]
    eta = model.type_logits(p, 7.5, False, model.MOBILE, tau=0.0)[0]
    evening = model.PODCAST_EVENING * np.exp(-0.5 * (9.5 / 1.25) ** 2)
    pod = b[1] + c * (model.PODCAST_MORNING + evening + model.DEVICE_EFFECTS[0, 1])
    assert eta[0] == pytest.approx(0.0)
    assert eta[1] == pytest.approx(pod)
    # softmax of the logits
    e = np.exp(eta - eta.max())
    np.testing.assert_allclose(model.content_type_probs(p, 7.5, False, 0, 0.0)[0], e / e.sum())


def test_context_strength_zero_gives_the_same_mix_everywhere():
    p = _params(2, context_strength=0.0)
    hours = np.arange(24)
    for dev in range(4):
        for we in (False, True):
            got = model.content_type_probs(p.take([1] * 24), hours, we, dev, tau=0.5)
            base = 0.5 * (p.type_base_start[1] + p.type_base_end[1])
            e = np.exp(base)
            np.testing.assert_allclose(got, np.tile(e / e.sum(), (24, 1)))


def test_context_matters_when_strength_positive():
    p = _params(1)
    morning = model.content_type_probs(p, 7, False, model.MOBILE, 0.5)[0]
    noon = model.content_type_probs(p, 13, False, model.DESKTOP, 0.5)[0]
    night = model.content_type_probs(p, 23, False, model.SPEAKER, 0.5)[0]
    assert morning[model.PODCAST] > 2 * noon[model.PODCAST]
    assert night[model.AUDIOBOOK] > 2 * noon[model.AUDIOBOOK]


def test_taste_fit_and_mix():
    p = _params(3)
    theta = model.taste_mix(p, 0.25)
    np.testing.assert_allclose(theta, 0.75 * p.taste_start + 0.25 * p.taste_end)
    fit = model.taste_fit(p, np.tile(np.arange(5), (3, 1)), 0.25)
    np.testing.assert_allclose(fit.max(axis=1), 1.0)
    assert fit.min() > 0
    one = model.taste_fit(p, np.array([0, 1, 2]), 0.25)
    np.testing.assert_allclose(one, fit[[0, 1, 2], [0, 1, 2]])
    with pytest.raises(ValueError, match="item_genre"):
        model.taste_fit(p, 9)


def test_rhythm_densities_sum_to_one():
    p = _params(3)
    for we in (False, True):
        a = model.session_hour_probs(p, we)
        np.testing.assert_allclose(a.sum(axis=1), 1.0)
    d = model.device_probs(p, np.array([8, 13, 21]), False)
    np.testing.assert_allclose(d.sum(axis=1), 1.0)
    assert (d[:, 3] == 0).all()  # tv not owned
    np.testing.assert_allclose(model.habit_hour_probs(p).sum(axis=1), 1.0, atol=1e-9)


def test_expected_stream_mix_equals_preference_without_habit_and_adds_the_habit():
    plain = _params(2)
    hours = np.array([7, 7])
    np.testing.assert_allclose(
        model.expected_stream_mix(plain, hours, False, 0, 0.5),
        model.content_type_probs(plain, hours, False, 0, 0.5),
    )
    hab = _params(2, habitual=True)
    with_habit = model.expected_stream_mix(hab, hours, False, model.MOBILE, 0.5)
    pref = model.content_type_probs(hab, hours, False, model.MOBILE, 0.5)
    assert (with_habit[:, model.PODCAST] > pref[:, model.PODCAST]).all()
    # the habit is weekday-only and mobile-only
    np.testing.assert_allclose(
        model.expected_stream_mix(hab, hours, True, model.MOBILE, 0.5),
        model.content_type_probs(hab, hours, True, model.MOBILE, 0.5),
    )
    # a device the user does not own reports the preference
    np.testing.assert_allclose(
        model.expected_stream_mix(plain, hours, False, model.TV, 0.5),
        model.content_type_probs(plain, hours, False, model.TV, 0.5),
    )


def test_table_roundtrip_and_bad_device():
    p = _params(3)
    back = model.UserParams.from_table(p.to_table())
    for name in ("taste_start", "device_mix", "habitual", "plays_per_session", "commute_hour"):
        np.testing.assert_array_equal(getattr(back, name), getattr(p, name))
    with pytest.raises(ValueError, match="device"):
        model.content_type_probs(p, 8, False, 7)


def test_device_codes():
    np.testing.assert_array_equal(
        model.device_codes(["tv", "mobile", "tv", "speaker"]), [3, 0, 3, 2]
    )
    with pytest.raises(ValueError, match="web"):
        model.device_codes(["mobile", "web"])


def test_session_and_habit_hours_of_repeated_users_equal_the_per_row_computation_bit_for_bit():
    p = _params(3, habitual=True)
    rows = np.array([2, 0, 0, 1, 2, 2, 1])
    rep = p.take(rows)
    for weekend in (False, True):
        weights = p.weekend_activity if weekend else p.weekday_activity
        direct = model._session_hour_density(p.commute_hour, p.night_hour, weights, weekend)
        assert np.array_equal(model.session_hour_probs(rep, weekend), direct[rows])
        np.testing.assert_allclose(direct.sum(axis=1), 1.0, atol=1e-12)
    first, inverse = model.distinct_rows(rep.commute_hour, rep.weekday_activity)
    assert first.size == 3
    assert np.array_equal(rep.commute_hour[first][inverse], rep.commute_hour)
    edges = np.arange(25, dtype=float)
    from scipy.special import ndtr

    want = np.diff(ndtr((edges[None, :] - p.commute_hour[:, None]) / model.HABIT_HOUR_SD), axis=1)
    assert np.array_equal(model.habit_hour_probs(rep), want[rows])
