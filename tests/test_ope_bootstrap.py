"""Bootstrap intervals and weight diagnostics."""

from __future__ import annotations

import numpy as np
import pytest

from prefcal import ope


def _logged(n: int = 3000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n_actions = 4
    action = rng.integers(0, n_actions, n)
    target = rng.dirichlet(np.ones(n_actions), n)
    q = rng.random((n, n_actions))
    reward = (rng.random(n) < q[np.arange(n), action]).astype(float)
    return dict(
        reward=reward,
        action=action,
        pscore=np.full(n, 1 / n_actions),
        action_dist=target[:, :, None],
        estimated_rewards_by_reg_model=q[:, :, None],
    )


@pytest.mark.parametrize("estimator", [ope.ipw, ope.snipw, ope.dm, ope.dr, ope.sndr])
def test_vectorised_bootstrap_equals_the_resampling_loop(estimator) -> None:
    data = _logged(500)
    fast = ope.bootstrap_ci(estimator, n_boot=200, alpha=0.1, random_state=3, **data)
    # a wrapper is not in the registry: the slow path re-runs it on every resample
    slow = ope.bootstrap_ci(
        lambda **kw: estimator(**kw), n_boot=200, alpha=0.1, random_state=3, **data
    )
    for key in ("estimate", "mean", "lower", "upper"):
        assert fast[key] == pytest.approx(slow[key], rel=1e-12, abs=1e-15)


def test_interval_brackets_the_estimate_and_is_reproducible() -> None:
    data = _logged()
    ci = ope.bootstrap_ci(ope.dr, n_boot=500, alpha=0.05, random_state=1, **data)
    assert ci["lower"] < ci["estimate"] < ci["upper"]
    assert ci["estimate"] == pytest.approx(ope.dr(**data))
    assert ci == ope.bootstrap_ci(ope.dr, n_boot=500, alpha=0.05, random_state=1, **data)
    # the interval of a mean has about the normal width 2 * 1.96 * sd / sqrt(n)
    r = data["reward"]
    on_policy = dict(data, action_dist=np.full((r.size, 4, 1), 0.25))
    ci = ope.bootstrap_ci(ope.ipw, n_boot=2000, random_state=2, **on_policy)
    width = 2 * 1.96 * r.std() / np.sqrt(r.size)
    assert ci["upper"] - ci["lower"] == pytest.approx(width, rel=0.1)


def test_lambda_passes_through_and_bad_arguments() -> None:
    data = _logged(300)
    ci = ope.bootstrap_ci(ope.switch_dr, n_boot=50, random_state=0, lambda_=0.0, **data)
    assert ci["estimate"] == pytest.approx(ope.dm(**data))
    with pytest.raises(ValueError, match="n_boot"):
        ope.bootstrap_ci(ope.ipw, n_boot=0, **data)
    with pytest.raises(ValueError, match="alpha"):
        ope.bootstrap_ci(ope.ipw, alpha=1.5, **data)


def test_weight_diagnostics() -> None:
    assert ope.effective_sample_size([1, 1, 1, 1]) == pytest.approx(4.0)
    assert ope.effective_sample_size([4, 0, 0, 0]) == pytest.approx(1.0)
    assert ope.effective_sample_size([2, 1, 1]) == pytest.approx(16 / 6)
    assert ope.max_weight([0.5, 3.0, 1.0]) == 3.0
    diag = ope.weight_diagnostics([2.0, 0.0, 1.0, 1.0])
    assert diag == pytest.approx(
        {"n": 4, "ess": 16 / 6, "ess_share": 16 / 24, "max_weight": 2.0, "mean_weight": 1.0}
    )
    data = _logged(10)
    w = ope.importance_weights(data["action"], data["pscore"], data["action_dist"])
    np.testing.assert_allclose(w, data["action_dist"][np.arange(10), data["action"], 0] * 4)
    with pytest.raises(ValueError, match="non-negative"):
        ope.effective_sample_size([1.0, -1.0])
