"""Heatmap ordering (platform class, then clustering) and the PNG it writes."""

import matplotlib.image
import numpy as np
import pytest
from oneproxy.analytics.heatmap import cell_inches, draw_heatmap, order_devices
from oneproxy.analytics.srcc import InvalidSrccInput


def two_clusters() -> tuple[np.ndarray, list[str], dict[str, str]]:
    devices = ["g1", "m1", "g2", "m2", "g3", "m3", "x"]
    platform = {
        "g1": "gpu",
        "g2": "gpu",
        "g3": "gpu",
        "m1": "mobile",
        "m2": "mobile",
        "m3": "mobile",
    }
    square = np.full((7, 7), 0.5)
    # g1 ~ g3 and m2 ~ m3 are the close pairs; m1 - m2 is unknown (null)
    for a, b, value in [(0, 4, 0.98), (0, 2, 0.6), (2, 4, 0.65), (3, 5, 0.97), (1, 3, np.nan)]:
        square[a, b] = square[b, a] = value
    np.fill_diagonal(square, 1.0)
    return square, devices, platform


def test_order_groups_by_platform_class_then_clusters_within():
    square, devices, platform = two_clusters()
    order, classes = order_devices(square, devices, platform)
    names = [devices[i] for i in order]
    assert classes == ["gpu"] * 3 + ["mobile"] * 3 + ["unknown"]
    assert set(names[:3]) == {"g1", "g2", "g3"}
    assert set(names[3:6]) == {"m1", "m2", "m3"}
    assert names[6] == "x"
    assert abs(names.index("g1") - names.index("g3")) == 1
    assert abs(names.index("m2") - names.index("m3")) == 1


def test_order_keeps_small_classes_and_sorts_class_names():
    square = np.eye(3)
    order, classes = order_devices(square, ["c", "b", "a"], {"a": "z", "b": "y", "c": "z"})
    assert order == [1, 0, 2]
    assert classes == ["y", "z", "z"]


def png_size(path) -> tuple[int, int]:
    height, width = matplotlib.image.imread(path).shape[:2]
    return width, height


def test_draw_heatmap_writes_png_growing_with_device_count(tmp_path):
    square, devices, platform = two_clusters()
    small = draw_heatmap(square, devices, platform, tmp_path / "small.png", "SRCC")
    assert small == tmp_path / "small.png"
    width, height = png_size(small)
    # 7 cells of 0.6 in + 3.5 in margins, 100 dpi; colourbar column adds 1.2 in
    assert (height, width) == (770, 890)

    rng = np.random.default_rng(0)
    n = 45
    big_square = np.clip(0.85 + 0.15 * rng.random((n, n)), -1, 1)
    big_square = (big_square + big_square.T) / 2
    big_square[3, 7] = big_square[7, 3] = np.nan
    np.fill_diagonal(big_square, 1.0)
    big_devices = [f"device_{i:02d}" for i in range(n)]
    big_platform = {d: ("gpu", "cpu", "mobile")[i % 3] for i, d in enumerate(big_devices)}
    big = draw_heatmap(big_square, big_devices, big_platform, tmp_path / "big.png", "45 devices")
    big_width, big_height = png_size(big)
    assert big_height == pytest.approx((n * cell_inches(n) + 3.5) * 100, abs=1)
    assert 1800 < big_height < 2400 and big_width > big_height
    assert cell_inches(n) < cell_inches(7)


def test_draw_heatmap_handles_all_null_matrix(tmp_path):
    square = np.full((3, 3), np.nan)
    np.fill_diagonal(square, 1.0)
    path = draw_heatmap(square, ["a", "b", "c"], {}, tmp_path / "null.png", "no pairs")
    assert png_size(path)[1] == pytest.approx((3 * 0.6 + 3.5) * 100, abs=1)


def test_draw_heatmap_refuses_mismatched_or_empty_input(tmp_path):
    with pytest.raises(InvalidSrccInput, match=r"shape \(2, 2\) for 3 device"):
        draw_heatmap(np.eye(2), ["a", "b", "c"], {}, tmp_path / "x.png", "bad")
    with pytest.raises(InvalidSrccInput, match="for 0 device"):
        draw_heatmap(np.empty((0, 0)), [], {}, tmp_path / "x.png", "empty")
    assert not (tmp_path / "x.png").exists()
