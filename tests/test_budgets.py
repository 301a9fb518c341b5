import numpy as np
import pytest
from oneproxy.search.budgets import MAX_BUDGETS, BadBudget, parse_budgets
from oneproxy.warehouse.errors import OneproxyError

# Device 0 measures 0..100 ms, device 1 measures 10..20 ms with gaps, device 2 nothing.
LATENCY = np.vstack([
    np.linspace(0.0, 100.0, 101),
    np.where(np.arange(101) % 2 == 0, np.linspace(10.0, 20.0, 101), np.nan),
    np.full(101, np.nan),
])


def test_milliseconds_are_the_same_for_every_device():
    budgets = parse_budgets("5ms, 10ms,12.5MS", LATENCY)
    assert budgets.shape == (3, 3)
    assert budgets.tolist() == [[5.0, 10.0, 12.5]] * 3


def test_percentiles_are_per_device():
    budgets = parse_budgets("q10,q50", LATENCY)
    np.testing.assert_allclose(budgets[:2], [[10.0, 50.0], [11.0, 15.0]])
    assert np.isnan(budgets[2]).all()


def test_percentile_range_spans_each_device():
    budgets = parse_budgets("q5:q95:50", LATENCY)
    assert budgets.shape == (3, 50)
    np.testing.assert_allclose(budgets[0], np.linspace(5.0, 95.0, 50))
    np.testing.assert_allclose(budgets[1], np.linspace(10.5, 19.5, 50))


def test_millisecond_range_and_mixed_list_keep_their_order():
    budgets = parse_budgets("2ms:20ms:10,q0,1e1ms", LATENCY[:2])
    np.testing.assert_allclose(budgets[0], [*np.linspace(2.0, 20.0, 10), 0.0, 10.0])
    np.testing.assert_allclose(budgets[1], [*np.linspace(2.0, 20.0, 10), 10.0, 10.0])


@pytest.mark.parametrize(
    ("spec", "token"),
    [
        ("5ms,x5", "x5"),
        ("5", "5"),
        ("5 ms", "5 ms"),
        ("-3ms", "-3ms"),
        ("nanms", "nanms"),
        ("1e999ms", "1e999ms"),
        ("q101", "q101"),
        ("q5:q95", "q5:q95"),
        ("q5:q95:1", "q5:q95:1"),
        ("q5:q95:ten", "q5:q95:ten"),
        (f"q5:q95:{MAX_BUDGETS + 1}", f"q5:q95:{MAX_BUDGETS + 1}"),
        ("q5:oops:10", "oops"),
        ("5ms,,6ms", ""),
    ],
)
def test_bad_tokens_are_named_with_examples(spec, token):
    with pytest.raises(BadBudget) as err:
        parse_budgets(spec, LATENCY)
    assert f"bad budget {token!r} in {spec!r}" in str(err.value)
    assert "q5:q95:50" in str(err.value)
    assert isinstance(err.value, OneproxyError)


def test_empty_spec_and_too_many_budgets():
    with pytest.raises(BadBudget, match="empty budget spec"):
        parse_budgets(" ", LATENCY)
    with pytest.raises(BadBudget, match="more than"):
        parse_budgets(f"q0:q1:{MAX_BUDGETS},5ms", LATENCY)


def test_latency_must_be_two_dimensional():
    with pytest.raises(ValueError, match="n_devices x n_archs"):
        parse_budgets("5ms", np.zeros(3))
