"""Steck's calibrated greedy: fast == naive == batched, known answers, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prefcal.metrics import calibration_kl
from prefcal.policies import steck_greedy, steck_greedy_batch, steck_greedy_naive


def _random_case(rng: np.random.Generator) -> dict:
    n = int(rng.integers(0, 25))
    g = int(rng.integers(1, 5))
    kind = rng.integers(0, 3)
    if kind == 0:  # many ties
        rel = rng.integers(0, 4, n).astype(float)
    elif kind == 1:
        rel = rng.random(n)
    else:  # negative and repeated values
        rel = np.round(rng.normal(size=n), 1)
    types = rng.integers(0, g, n)
    target = rng.random(g)
    target[rng.random(g) < 0.3] = 0.0
    if target.sum() == 0:
        target[int(rng.integers(0, g))] = 1.0
    lam = float(rng.choice([0.0, 1.0, 0.5, rng.random()]))
    alpha = float(rng.choice([0.01, 0.2, 1.0]))
    k = int(rng.integers(0, n + 5))
    return {
        "relevance": rel,
        "item_type": types,
        "target": target,
        "k": k,
        "lam": lam,
        "alpha": alpha,
    }


def test_fast_equals_naive_on_many_random_inputs() -> None:
    rng = np.random.default_rng(20261122)
    for _ in range(600):
        case = _random_case(rng)
        fast = steck_greedy(**case)
        naive = steck_greedy_naive(**case)
        assert fast.dtype == np.int64
        np.testing.assert_array_equal(fast, naive, err_msg=str(case))
        assert fast.size == min(case["k"], case["relevance"].size)
        assert np.unique(fast).size == fast.size


@pytest.mark.parametrize(
    "case",
    [
        # a type with no items
        dict(relevance=[0.3, 0.9, 0.1], item_type=[0, 0, 2], target=[0.2, 0.5, 0.3], k=3, lam=0.5),
        # k >= N
        dict(relevance=[1.0, 2.0, 3.0], item_type=[1, 0, 1], target=[0.5, 0.5], k=10, lam=0.4),
        # lam = 0 and lam = 1
        dict(relevance=[1, 5, 5, 2, 2], item_type=[0, 1, 1, 0, 1], target=[0.5, 0.5], k=4, lam=0.0),
        dict(relevance=[1, 5, 5, 2, 2], item_type=[0, 1, 1, 0, 1], target=[0.5, 0.5], k=4, lam=1.0),
        # target with zeros, all ties
        dict(
            relevance=[1, 1, 1, 1, 1, 1],
            item_type=[0, 1, 2, 0, 1, 2],
            target=[0, 1, 0],
            k=5,
            lam=0.7,
        ),
        # single type, single item, empty pool
        dict(relevance=[0.2, 0.1], item_type=[0, 0], target=[1.0], k=2, lam=0.9),
        dict(relevance=[0.2], item_type=[1], target=[0.5, 0.5], k=1, lam=0.5),
        dict(relevance=[], item_type=[], target=[0.5, 0.5], k=3, lam=0.5),
    ],
)
def test_edge_cases_fast_equals_naive(case: dict) -> None:
    np.testing.assert_array_equal(steck_greedy(**case), steck_greedy_naive(**case))
    batch = steck_greedy_batch(
        np.atleast_2d(np.asarray(case["relevance"], float)),
        **{k: v for k, v in case.items() if k != "relevance"},
    )
    np.testing.assert_array_equal(batch[0], steck_greedy(**case))


def test_hand_case() -> None:
    rel = [3.0, 2.0, 1.0, 0.5]
    types = [0, 0, 1, 1]
    # step 1: type 0 -> 0.5*3 - 0.5*KL((.5,.5)||(.995,.005)); type 1 symmetric with r=1: item 0
    # step 2: adding type 1 makes q = p (KL 0): 0.5*1 beats 0.5*2 - 0.5*KL: item 2
    np.testing.assert_array_equal(steck_greedy(rel, types, [0.5, 0.5], k=2, lam=0.5), [0, 2])
    np.testing.assert_array_equal(steck_greedy(rel, types, [0.5, 0.5], k=4, lam=0.5), [0, 2, 1, 3])
    np.testing.assert_array_equal(steck_greedy(rel, types, [0.5, 0.5], k=2, lam=0.0), [0, 1])
    # calibrating to a pure type-1 target puts both type-1 items first
    np.testing.assert_array_equal(steck_greedy(rel, types, [0.0, 1.0], k=3, lam=0.9), [2, 3, 0])


def test_lam_zero_is_relevance_ranking_with_index_ties() -> None:
    rng = np.random.default_rng(1)
    rel = rng.integers(0, 5, 40).astype(float)
    types = rng.integers(0, 3, 40)
    expected = np.lexsort((np.arange(40), -rel))[:15]
    np.testing.assert_array_equal(steck_greedy(rel, types, [0.2, 0.3, 0.5], 15, lam=0.0), expected)


def test_lam_one_ignores_relevance_except_for_ties() -> None:
    # the KL picks the type (steps 1-2 alternate; steps 3-4 tie in KL); relevance picks the item
    rel = [0.1, 0.9, 0.5, 0.7]
    types = [0, 0, 1, 1]
    np.testing.assert_array_equal(steck_greedy(rel, types, [0.5, 0.5], 4, lam=1.0), [1, 3, 2, 0])


def test_each_step_maximises_the_documented_objective() -> None:
    """F(S) = (1-lam) sum r - lam KL(p || (1-alpha) q(S) + alpha p), q(S) = type shares of S."""
    rng = np.random.default_rng(7)
    for _ in range(15):
        n, g = 12, 3
        rel = rng.random(n)
        types = rng.integers(0, g, n)
        p = rng.dirichlet(np.ones(g))
        lam = float(rng.random())
        slate = steck_greedy(rel, types, p, 6, lam, alpha=0.01)

        def objective(s: list[int], rel=rel, types=types, p=p, lam=lam, g=g) -> float:
            q = np.bincount(types[s], minlength=g) / len(s)
            return (1 - lam) * rel[s].sum() - lam * calibration_kl(p, q, alpha=0.01)

        for j in range(len(slate)):
            prefix = list(slate[:j])
            values = [objective(prefix + [i]) for i in range(n) if i not in prefix]
            assert objective(prefix + [int(slate[j])]) >= max(values) - 1e-12


def test_near_ties_below_the_sort_key_resolution() -> None:
    # relevances one ulp apart inside a wide span collide in the quantised sort key: exact re-sort
    tiny = np.nextafter(1.0, 2.0)
    rel = np.array([1.0, tiny, 1e12, 1.0, tiny, -1e12, 0.5])
    types = np.array([0, 0, 1, 0, 0, 1, 0])
    for lam in (0.0, 0.3, 1.0):
        single = steck_greedy(rel, types, [0.7, 0.3], 7, lam)
        np.testing.assert_array_equal(single, steck_greedy_naive(rel, types, [0.7, 0.3], 7, lam))
        batch = steck_greedy_batch(
            np.vstack([rel, rel[::-1]]), np.vstack([types, types[::-1]]), [0.7, 0.3], 7, lam
        )
        np.testing.assert_array_equal(batch[0], single)
        np.testing.assert_array_equal(
            batch[1], steck_greedy(rel[::-1], types[::-1], [0.7, 0.3], 7, lam)
        )


@pytest.mark.parametrize("k", [2, 4, 5, 6])
def test_near_tie_at_the_depth_boundary(k: int) -> None:
    # type 0 ranks: 5, 4, 3, then 1.0 and 1.0 + ulp (a collision at ranks 3-4 of the type)
    tiny = np.nextafter(1.0, 2.0)
    rel = np.array([1e12, 5.0, 4.0, 1.0, tiny, 3.0])
    types = np.array([1, 0, 0, 0, 0, 0])
    expected = steck_greedy_naive(rel, types, [0.5, 0.5], k, 0.0)
    np.testing.assert_array_equal(
        steck_greedy_batch(rel[None], types, [0.5, 0.5], k, 0.0)[0], expected
    )
    if k >= 5:
        assert expected[4] == 4  # the higher relevance wins, not the lower index


def test_batch_equals_single_row_by_row() -> None:
    rng = np.random.default_rng(3)
    b, n, g = 120, 60, 3
    rel = np.where(rng.random((b, n)) < 0.5, rng.integers(0, 5, (b, n)), rng.random((b, n)))
    types = rng.integers(0, g, (b, n))
    types[:20, :] = np.minimum(types[:20, :], 1)  # some rows without type 2
    target = rng.dirichlet(np.ones(g), b)
    target[::5, 0] = 0.0
    for lam in (0.0, 0.35, 1.0):
        batch = steck_greedy_batch(rel, types, target, 12, lam, chunk_size=64)
        for i in range(b):
            np.testing.assert_array_equal(
                batch[i], steck_greedy(rel[i], types[i], target[i], 12, lam)
            )
    # shared item types and shared target
    batch = steck_greedy_batch(rel, types[0], target[0], 70, 0.5)
    assert batch.shape == (b, n)
    for i in range(0, b, 10):
        np.testing.assert_array_equal(batch[i], steck_greedy(rel[i], types[0], target[0], 70, 0.5))


def test_kl_of_final_slate_shrinks_with_lam() -> None:
    rng = np.random.default_rng(5)
    rel = rng.random(200)
    types = rng.integers(0, 3, 200)
    p = np.array([0.6, 0.3, 0.1])
    kls = []
    for lam in (0.0, 0.5, 0.99):
        s = steck_greedy(rel, types, p, 20, lam)
        kls.append(calibration_kl(p, np.bincount(types[s], minlength=3) / 20))
    assert kls[0] > kls[1] >= kls[2]
    assert kls[2] < 0.01


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(item_type=[0, 3]), "type id 3"),
        (dict(item_type=[0, 0.5]), "integer"),
        (dict(lam=1.5), "lam"),
        (dict(alpha=0.0), "alpha"),
        (dict(k=-1), "k must"),
        (dict(relevance=[np.nan, 1.0]), "finite"),
        (dict(target=[0.0, 0.0]), "positive sum"),
        (dict(item_type=[0, 1, 1]), "shape"),
    ],
)
def test_bad_input(kwargs: dict, message: str) -> None:
    args = dict(relevance=[0.5, 0.2], item_type=[0, 1], target=[0.5, 0.5], k=2, lam=0.5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        steck_greedy(**args)


def test_batch_bad_target_rows() -> None:
    with pytest.raises(ValueError, match="target"):
        steck_greedy_batch(np.zeros((3, 4)), [0, 1, 0, 1], np.full((2, 2), 0.5), 2, 0.5)
    assert math.isclose(
        steck_greedy_batch(np.zeros((0, 4)), [0, 1, 0, 1], [0.5, 0.5], 2, 0.5).size, 0
    )
