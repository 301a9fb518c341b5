"""The warehouse → matrix reader on the synthetic warehouse: rows in the callers' device order."""

from __future__ import annotations

import numpy as np
import pytest
from oneproxy.warehouse.errors import UnknownSpace
from oneproxy.warehouse.spaces import spaces_table
from synthetic import PARTIAL_ARCHS

from oneproxy.api.errors import NoLatency
from oneproxy.api.latency import load_space, space_archs, space_series, space_series_archs


def test_load_space_rows_follow_the_devices_and_a_device_named_twice_fills_both(synth):
    data = load_space(synth, "nb201", "cifar10", ["phone_c", "phone_a", "phone_c"])
    alone = load_space(synth, "nb201", "cifar10", ["phone_a"])
    np.testing.assert_array_equal(data.latency[1], alone.latency[0])
    np.testing.assert_array_equal(data.latency[0], data.latency[2])
    assert data.has_row[0].sum() == PARTIAL_ARCHS == np.isfinite(data.latency[2]).sum()
    assert data.has_row[1].all() and np.isfinite(data.latency[1]).all()
    assert data.latency.shape == (3, data.arch_ids.size) and data.devices[0] == "phone_c"


def test_space_series_archs_is_check_space_then_series_and_archs(synth):
    series, archs = space_series_archs(synth, "nb201")
    assert series.equals(space_series(synth, "nb201"))
    assert archs.equals(space_archs(synth, "nb201")) and archs.num_rows == 15_625
    with pytest.raises(UnknownSpace, match="nb202.*nb201"):
        space_series_archs(synth, "nb202")
    synth.commit({"spaces": spaces_table({"nb201", "fbnet"})})
    with pytest.raises(NoLatency, match="space fbnet has no whole-network latency"):
        space_series_archs(synth, "fbnet")
