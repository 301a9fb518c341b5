"""Unit tests on small tables: lookup-table pricing, and which targets the batch search keeps."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from oneproxy.analytics.predictors.lookup import MissingOp, price

from oneproxy.api.search import SearchData
from oneproxy.stages import MIN_SEARCH_MEASURED, searchable


def test_price_sums_each_layer_including_repeated_keys():
    layers = pl.DataFrame({"arch_row": [0, 0, 0, 1, 2], "op_key": ["a", "b", "a", "b", "c"]})
    table = pl.DataFrame({"op_key": ["a", "b", "c"], "mean": [1.5, 0.25, 4.0]})
    assert price(layers, table).tolist() == [3.25, 0.25, 4.0]
    assert price(layers, table, n_archs=4).tolist() == [3.25, 0.25, 4.0, 0.0]


def test_price_looks_keys_up_in_the_table_of_their_resolution():
    layers = pl.DataFrame({"arch_row": [0, 1], "resolution": [160, 224], "op_key": ["a", "a"]})
    table = pl.DataFrame({"resolution": [160, 224], "op_key": ["a", "a"], "mean": [1.0, 2.0]})
    assert price(layers, table).tolist() == [1.0, 2.0]


def test_price_names_a_missing_or_repeated_key():
    layers = pl.DataFrame({"arch_row": [0, 1], "op_key": ["a", "zz"]})
    with pytest.raises(MissingOp, match=r"op key 'zz' \(architecture row 1\).*1 distinct"):
        price(layers, pl.DataFrame({"op_key": ["a"], "mean": [1.0]}))
    with pytest.raises(MissingOp, match="lists op key 'a' more than once"):
        price(layers, pl.DataFrame({"op_key": ["a", "a", "zz"], "mean": [1.0, 2.0, 3.0]}))


def _data(measured: list[int], n_archs: int = 100) -> SearchData:
    true = np.full((len(measured), n_archs), np.nan)
    for row, m in enumerate(measured):
        true[row, :m] = 1.0 + row
    targets = [f"d{i}" for i in range(len(measured))]
    return SearchData(targets=targets, latency_datasets=["cifar10"] * len(targets), true=true,
                      proxy=None, candidates={}, arch_ids=np.arange(n_archs),
                      arch_keys=[str(i) for i in range(n_archs)],
                      accuracy=np.zeros(n_archs), partial=np.array([m < n_archs for m in measured]))


def test_search_keeps_targets_with_samples_to_draw_and_the_rest_to_judge():
    data = _data([100, MIN_SEARCH_MEASURED, MIN_SEARCH_MEASURED - 1, 3])
    kept, thin = searchable(data, "d0")
    assert kept.targets == ["d1"] and thin == ["d2", "d3"]
    assert np.array_equal(kept.proxy, data.true[0])
    assert np.array_equal(kept.true, data.true[[1]], equal_nan=True)
    assert kept.partial.tolist() == [True]
