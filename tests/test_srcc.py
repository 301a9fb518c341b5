"""All-pairs SRCC / Kendall against scipy, bootstrap intervals, `against`, and the SQL macro."""

import tracemalloc
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from oneproxy.analytics import spearman_exact
from oneproxy.analytics.spearman_exact import gram
from oneproxy.analytics.srcc import PAIR_SCHEMA, InvalidSrccInput, against, srcc_matrix, to_square
from oneproxy.warehouse.errors import OneproxyError, UnknownDevice
from scipy.stats import kendalltau, pearsonr, spearmanr

SQL = Path(__file__).resolve().parents[1] / "sql" / "srcc.sql"
LONG_SCHEMA = {"device_id": pl.String, "arch_id": pl.Int64, "latency_ms": pl.Float64}


def long_frame(series: dict[str, list[float | None]]) -> pl.DataFrame:
    """Long latency table from per-device lists indexed by arch_id (None = failed)."""
    rows = [
        (device, arch, value)
        for device, values in series.items()
        for arch, value in enumerate(values)
    ]
    return pl.DataFrame(rows, schema=LONG_SCHEMA, orient="row")


@st.composite
def latency_tables(draw: st.DrawFn) -> tuple[pl.DataFrame, int]:
    """Small tables with ties, nulls / NaNs / missing rows, several coverage groups, constants."""
    n_devices = draw(st.integers(2, 7))
    n_archs = draw(st.integers(0, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    patterns = rng.random((draw(st.integers(1, 3)), n_archs)) < draw(st.floats(0.5, 1.0))
    levels = draw(st.integers(1, 6))
    rows = []
    for d in range(n_devices):
        covered = patterns[rng.integers(len(patterns))]
        if rng.random() < 0.2:
            covered = covered & (rng.random(n_archs) < 0.9)
        constant = rng.random() < 0.15
        for arch in range(n_archs):
            if covered[arch]:
                value = 2.5 if constant else float(rng.integers(levels * 3)) / 2
                rows.append((f"dev{d}", arch, value))
            elif rng.random() < 0.5:
                rows.append((f"dev{d}", arch, None if rng.random() < 0.5 else float("nan")))
    frame = pl.DataFrame(rows, schema=LONG_SCHEMA, orient="row")
    return frame.sample(fraction=1.0, shuffle=True, seed=0), draw(st.integers(2, 12))


def shared_values(frame: pl.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    valid = frame.filter(pl.col("latency_ms").is_not_null() & pl.col("latency_ms").is_not_nan())
    joined = valid.filter(pl.col("device_id") == a).join(
        valid.filter(pl.col("device_id") == b), on="arch_id"
    )
    return joined["latency_ms"].to_numpy(), joined["latency_ms_right"].to_numpy()


def check_against_scipy(frame: pl.DataFrame, pairs: pl.DataFrame, min_common: int, reference):
    devices = sorted(frame["device_id"].unique().to_list())
    assert pairs.height == len(devices) * (len(devices) - 1) // 2
    assert pairs.select(pl.col("device_a") < pl.col("device_b")).to_series().all()
    for row in pairs.iter_rows(named=True):
        x, y = shared_values(frame, row["device_a"], row["device_b"])
        assert row["n_common"] == x.size
        if x.size < min_common:
            assert row["value"] is None
            assert row["reason"] == f"only {x.size} shared architectures (< {min_common})"
        elif np.ptp(x) == 0 or np.ptp(y) == 0:
            assert row["value"] is None
            assert row["reason"].startswith("constant latency on ")
            constant = [
                d for d, v in ((row["device_a"], x), (row["device_b"], y)) if np.ptp(v) == 0
            ]
            assert all(d in row["reason"] for d in constant)
        else:
            assert row["reason"] is None
            assert row["value"] == pytest.approx(reference(x, y).statistic, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(latency_tables())
def test_spearman_equals_scipy_per_pair(case):
    frame, min_common = case
    pairs = srcc_matrix(frame, min_common=min_common)
    assert pairs.schema == PAIR_SCHEMA
    check_against_scipy(frame, pairs, min_common, spearmanr)
    assert pairs["method"].unique().to_list() in ([], ["spearman"])
    assert pairs["ci_low"].null_count() == pairs.height


@settings(max_examples=25, deadline=None)
@given(latency_tables())
def test_kendall_equals_scipy_tau_b(case):
    frame, min_common = case
    pairs = srcc_matrix(frame, method="kendall", min_common=min_common)
    check_against_scipy(frame, pairs, min_common, kendalltau)


def test_known_spearman_with_ties_nulls_and_partial_coverage():
    frame = long_frame(
        {
            "a": [1.0, 2.0, 3.0, 4.0, 5.0, None],
            "b": [5.0, 6.0, 7.0, 8.0, 7.0, 9.0],
            "c": [3.0, None, 1.0, 1.0, 2.0, 4.0],
        }
    )
    pairs = srcc_matrix(frame, min_common=4)
    assert pairs.select("device_a", "device_b", "n_common").rows() == [
        ("a", "b", 5),
        ("a", "c", 4),
        ("b", "c", 5),
    ]
    # a-b: ranks 1..5 vs (1, 2, 3.5, 5, 3.5); a-c on archs 0, 2, 3, 4: 1..4 vs (4, 1.5, 1.5, 3)
    assert pairs["value"].to_list() == pytest.approx(
        [0.8207826816681233, -0.316227766016838, 0.13157894736842107], abs=1e-12
    )


def test_pair_below_min_common_and_constant_device_get_reasons():
    frame = long_frame({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 2.0, 2.0, 2.0], "c": [1.0, 3.0]})
    pairs = srcc_matrix(frame, min_common=3)
    assert pairs.select("device_a", "device_b", "value", "reason").rows() == [
        ("a", "b", None, "constant latency on b over the 4 shared architectures"),
        ("a", "c", None, "only 2 shared architectures (< 3)"),
        ("b", "c", None, "only 2 shared architectures (< 3)"),
    ]


def test_device_without_any_measurement_pairs_with_zero_shared():
    frame = long_frame({"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0], "dead": [None, None, None]})
    pairs = srcc_matrix(frame, min_common=3).filter(pl.col("device_b") == "dead")
    assert pairs.select("n_common", "reason").rows() == [
        (0, "only 0 shared architectures (< 3)"),
        (0, "only 0 shared architectures (< 3)"),
    ]


def test_empty_and_single_device_tables_give_empty_pair_tables():
    one = long_frame({"a": [1.0, 2.0]})
    assert srcc_matrix(one).height == 0
    empty = srcc_matrix(one.head(0))
    assert empty.schema == PAIR_SCHEMA
    assert empty.columns == [
        "device_a",
        "device_b",
        "method",
        "n_common",
        "value",
        "reason",
        "ci_low",
        "ci_high",
    ]


def monotone_pair(n: int = 120) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    x = rng.lognormal(size=n)
    return long_frame(
        {
            "a": np.round(x, 1).tolist(),
            "b": np.round(x * np.exp(rng.normal(0, 0.4, n)), 1).tolist(),
            "c": np.round(rng.lognormal(size=n), 1).tolist(),
        }
    )


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate():
    frame = monotone_pair()
    first = srcc_matrix(frame, ci=0.95, n_bootstrap=300, seed=7)
    again = srcc_matrix(frame, ci=0.95, n_bootstrap=300, seed=7)
    other = srcc_matrix(frame, ci=0.95, n_bootstrap=300, seed=8)
    assert first.equals(again)
    assert not first["ci_low"].equals(other["ci_low"])
    assert first["value"].equals(srcc_matrix(frame)["value"])
    for row in first.iter_rows(named=True):
        assert row["ci_low"] < row["value"] < row["ci_high"]
    a_b = first.row(0, named=True)
    assert a_b["ci_low"] > 0.8 and a_b["ci_high"] < 1.0
    assert a_b["ci_high"] - a_b["ci_low"] < 0.1


def test_bootstrap_interval_widens_with_confidence_and_is_null_without_value():
    frame = monotone_pair()
    narrow = srcc_matrix(frame, ci=0.5, n_bootstrap=200).row(0, named=True)
    wide = srcc_matrix(frame, ci=0.99, n_bootstrap=200).row(0, named=True)
    assert wide["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < wide["ci_high"]
    short = srcc_matrix(frame, ci=0.95, min_common=500)
    assert short["ci_low"].null_count() == short["ci_high"].null_count() == 3


def pair_table(rows: list[tuple[str, str, float | None, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "device_a": pl.String,
            "device_b": pl.String,
            "value": pl.Float64,
            "n_common": pl.Int64,
        },
        orient="row",
    )


def test_against_lists_most_then_least_monotone_partners():
    pairs = pair_table(
        [
            ("a", "p", 0.95, 100),
            ("a", "x", 0.50, 90),
            ("b", "p", 0.99, 80),
            ("c", "p", 0.10, 70),
            ("d", "p", None, 5),
            ("p", "q", 0.70, 60),
            ("p", "r", 0.30, 50),
        ]
    )
    top = against(pairs, "p", 2)
    assert top.rows() == [
        ("most", "b", 0.99, 80),
        ("most", "a", 0.95, 100),
        ("least", "c", 0.10, 70),
        ("least", "r", 0.30, 50),
    ]
    everything = against(pairs, "p", 10)
    assert everything["partner"].to_list() == ["b", "a", "q", "r", "c"]
    assert everything["side"].to_list() == ["most"] * 5


def test_against_unknown_device_names_known_ones():
    pairs = pair_table([("a", "b", 0.9, 40)])
    with pytest.raises(UnknownDevice, match=r"'pixel9'.*known devices: a, b"):
        against(pairs, "pixel9", 3)
    with pytest.raises(InvalidSrccInput, match="top must be a positive"):
        against(pairs, "a", 0)


def test_to_square_is_symmetric_with_unit_diagonal_and_nan_for_null():
    pairs = srcc_matrix(
        long_frame({"b": [1.0, 2.0, 3.0], "a": [1.0, 3.0, 2.0], "c": [1.0, 1.0, 1.0]}),
        min_common=3,
    )
    square, devices = to_square(pairs)
    assert devices == ["a", "b", "c"]
    expected = np.array([[1.0, 0.5, np.nan], [0.5, 1.0, np.nan], [np.nan, np.nan, 1.0]])
    np.testing.assert_allclose(square, expected, atol=1e-12)
    reordered, order = to_square(pairs, ["c", "a"])
    assert order == ["c", "a"]
    np.testing.assert_allclose(reordered, [[1.0, np.nan], [np.nan, 1.0]])
    with pytest.raises(UnknownDevice, match="'zz'"):
        to_square(pairs, ["a", "zz"])


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pl.DataFrame({"device_id": ["a"], "arch_id": [0]}), "lacks column.*latency_ms"),
        (
            pl.DataFrame({"device_id": ["a"], "arch_id": [0.5], "latency_ms": [1.0]}),
            "arch_id must be an integer",
        ),
        (
            pl.DataFrame({"device_id": ["a"], "arch_id": [0], "latency_ms": ["1"]}),
            "latency_ms must be numeric",
        ),
        (
            pl.DataFrame({"device_id": [None, "a"], "arch_id": [0, 1], "latency_ms": [1.0, 2.0]}),
            "device_id has 1 null",
        ),
        (
            pl.DataFrame(
                {"device_id": ["a", "a", "b"], "arch_id": [3, 3, 3], "latency_ms": [1.0, None, 2.0]}
            ),
            r"more than one row for device 'a', arch_id 3.*one space and dataset",
        ),
    ],
)
def test_bad_latency_tables_are_refused(frame, message):
    with pytest.raises(InvalidSrccInput, match=message):
        srcc_matrix(frame)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "pearson"}, "method must be 'spearman' or 'kendall', got 'pearson'"),
        ({"min_common": 1}, "min_common must be at least 2"),
        ({"ci": 1.5}, "ci must be a coverage level strictly between 0 and 1, got 1.5"),
        ({"ci": 0.9, "n_bootstrap": 1}, "n_bootstrap must be at least 2"),
        ({"ci": 0.9, "method": "kendall"}, "method='spearman' only"),
    ],
)
def test_bad_parameters_are_refused(options, message):
    with pytest.raises(InvalidSrccInput, match=message) as caught:
        srcc_matrix(long_frame({"a": [1.0, 2.0], "b": [2.0, 1.0]}), **options)
    assert isinstance(caught.value, OneproxyError)


def test_sql_macro_matches_polars_path():
    rng = np.random.default_rng(11)
    n = 150
    series = {
        "a": rng.integers(0, 12, n).astype(float).tolist(),
        "b": np.round(rng.lognormal(size=n), 0).tolist(),
        "c": [4.0] * n,
    }
    series["a"][::7] = [None] * len(series["a"][::7])
    series["b"][::11] = [float("nan")] * len(series["b"][::11])
    latency = long_frame(series).filter(~((pl.col("device_id") == "c") & (pl.col("arch_id") < 9)))
    pairs = srcc_matrix(latency, min_common=2)
    con = duckdb.connect()
    other_space = latency.with_columns(pl.lit("other").alias("space_id"),
                                       pl.col("latency_ms").reverse())
    con.register("latency", pl.concat([
        latency.with_columns(pl.lit("nb201").alias("space_id")), other_space,
    ]).with_columns(pl.lit("cifar10").alias("dataset")))
    con.execute(SQL.read_text())
    for device_a, device_b in [("a", "b"), ("a", "c"), ("b", "c")]:
        got = con.execute("SELECT * FROM srcc_pair('nb201', ?, ?)",
                          [device_a, device_b]).fetchall()
        want = pairs.filter((pl.col("device_a") == device_a) & (pl.col("device_b") == device_b))
        (row,) = got
        assert row[:4] == (device_a, device_b, "spearman", want["n_common"].item())
        if want["value"].item() is None:
            assert row[4] is None
        else:
            assert row[4] == pytest.approx(want["value"].item(), abs=1e-9)
    assert pairs.filter(pl.col("device_a") == "a")["value"].null_count() == 1


@pytest.mark.parametrize(
    ("dtype", "ids"),
    [
        (pl.Int8, [-100, 0, 27, 100]),
        (pl.Int64, [5, 10**12, 3 * 10**15, 7]),
        (pl.UInt64, [2**64 - 1, 2**63, 17, 2**40]),
    ],
)
def test_sparse_and_narrow_arch_ids(dtype, ids):
    frame = pl.DataFrame(
        {
            "device_id": ["a"] * 4 + ["b"] * 4,
            "arch_id": pl.Series(ids * 2, dtype=dtype),
            "latency_ms": [1.0, 2.0, 3.0, 4.0, 1.0, 3.0, 2.0, 4.0],
        }
    )
    pairs = srcc_matrix(frame, min_common=4)
    assert pairs.select("n_common", "value").row(0) == (4, pytest.approx(0.8, abs=1e-12))


@st.composite
def ragged_tables(draw: st.DrawFn, max_groups: int = 3) -> tuple[pl.DataFrame, int]:
    """Large coverage groups (matrix-product path) beside devices with their own gaps (pair path).

    Ties come from few latency levels; absent values are nulls, NaNs or missing rows.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_archs = draw(st.integers(1, 60))
    group_sizes = draw(st.lists(st.integers(1, 9), min_size=0, max_size=max_groups))
    n_ragged = draw(st.integers(0, 8))
    levels = draw(st.integers(1, 8))
    keep = draw(st.floats(0.3, 1.0))
    masks = [m for size in group_sizes for m in [rng.random(n_archs) < keep] * size]
    masks += [rng.random(n_archs) < keep for _ in range(n_ragged)]
    rows = []
    for d, covered in enumerate(masks):
        for arch in np.flatnonzero(covered):
            rows.append((f"dev{d:02d}", int(arch), float(rng.integers(levels)) / 4))
        for arch in np.flatnonzero(~covered):
            if rng.random() < 0.6:
                rows.append((f"dev{d:02d}", int(arch), None if rng.random() < 0.5 else np.nan))
    frame = pl.DataFrame(rows, schema=LONG_SCHEMA, orient="row")
    return frame.sample(fraction=1.0, shuffle=True, seed=1), draw(st.integers(2, 10))


@settings(max_examples=60, deadline=None)
@given(ragged_tables())
def test_spearman_with_groups_and_per_device_gaps_equals_scipy(case):
    frame, min_common = case
    pairs = srcc_matrix(frame, min_common=min_common)
    check_against_scipy(frame, pairs, min_common, spearmanr)


def test_many_ties_over_thousands_of_architectures_stay_exact():
    """Doubled ranks are exact in float32 and their float64 sums exact: 1e-12 of scipy at n=20,000.

    Eight devices share one coverage (matrix-product path); four more each miss their own tenth
    (pair path); latencies take 50 levels, so every tie run is hundreds long.
    """
    rng = np.random.default_rng(5)
    n = 20_000
    base = rng.integers(0, 50, n)
    series = {}
    for d in range(12):
        noisy = np.clip(base + rng.integers(-3, 4, n), 0, None).astype(float)
        if d >= 8:
            noisy[rng.random(n) < 0.1] = np.nan
        series[f"d{d:02d}"] = noisy.tolist()
    frame = long_frame(series)
    pairs = srcc_matrix(frame)
    worst = 0.0
    for row in pairs.iter_rows(named=True):
        x = np.array(series[row["device_a"]])
        y = np.array(series[row["device_b"]])
        both = ~np.isnan(x) & ~np.isnan(y)
        assert row["n_common"] == both.sum()
        worst = max(worst, abs(row["value"] - spearmanr(x[both], y[both]).statistic))
    assert worst < 1e-12


def test_large_blocks_rank_in_float32_with_the_same_exact_values(monkeypatch):
    """Doubled ranks (integers below n) are exact in float32: a block ranked in float32, the
    memory-saving form of large blocks, gives the float64 block's values to the bit."""
    gapped = gapped_fleet(6, 3_000, seed=5)
    shared = gapped.group_by("arch_id").len().filter(pl.col("len") == 6)["arch_id"]
    frame = gapped.filter(pl.col("arch_id").is_in(shared.implode()))  # one coverage group
    calls = []
    monkeypatch.setattr(spearman_exact, "gram", lambda left, right: calls.append(left.dtype)
                        or gram(left, right))
    small = srcc_matrix(frame, min_common=2)
    monkeypatch.setattr(spearman_exact, "_FLOAT64_RANKS", 0)
    assert srcc_matrix(frame, min_common=2).equals(small)
    assert calls == [np.float64, np.float32]


def own_rank_pearson(frame: pl.DataFrame, a: str, b: str) -> float:
    """What `ragged="approx"` computes: Pearson, over the shared architectures, of each device's
    ranks over its own coverage."""
    valid = frame.filter(pl.col("latency_ms").is_not_null() & pl.col("latency_ms").is_not_nan())
    ranked = valid.with_columns(rank=pl.col("latency_ms").rank("average").over("device_id"))
    joined = ranked.filter(pl.col("device_id") == a).join(
        ranked.filter(pl.col("device_id") == b), on="arch_id")
    return pearsonr(joined["rank"].to_numpy(), joined["rank_right"].to_numpy()).statistic


@settings(max_examples=60, deadline=None)
@given(ragged_tables(max_groups=0))
def test_approximate_ragged_pairs_are_pearson_of_own_ranks_with_exact_counts_and_reasons(case):
    frame, min_common = case
    valid = frame.filter(pl.col("latency_ms").is_not_null() & pl.col("latency_ms").is_not_nan())
    patterns = {device: frozenset(valid.filter(pl.col("device_id") == device)["arch_id"])
                for device in frame["device_id"].unique()}
    assume(len(set(patterns.values())) == len(patterns))  # a shared pattern is an exact block
    approx = srcc_matrix(frame, min_common=min_common, ragged="approx")
    exact = srcc_matrix(frame, min_common=min_common, ragged="exact")
    assert approx.select("device_a", "device_b", "n_common", "reason").equals(
        exact.select("device_a", "device_b", "n_common", "reason"))
    for row in approx.filter(pl.col("value").is_not_null()).iter_rows(named=True):
        expected = own_rank_pearson(frame, row["device_a"], row["device_b"])
        assert row["value"] == pytest.approx(expected, abs=1e-9)


def gapped_fleet(n_devices: int, n_archs: int, seed: int) -> pl.DataFrame:
    """Correlated, rounded (tied) latencies; each device misses its own random 10 %."""
    rng = np.random.default_rng(seed)
    size = rng.normal(size=n_archs)
    frames = []
    for d in range(n_devices):
        keep = np.flatnonzero(rng.random(n_archs) >= 0.1)
        latency = np.exp(rng.uniform(0.5, 1.5) * size[keep] + rng.normal(0, 0.3, keep.size))
        frames.append(pl.DataFrame({"device_id": f"d{d:02d}", "arch_id": keep,
                                    "latency_ms": latency.round(1)}))
    return pl.concat(frames)


def test_approximate_ragged_pairs_stay_near_exact_on_ten_percent_gaps():
    """The documented error of the fallback: under 2e-3 at 20,000 architectures with 10 % gaps."""
    frame = gapped_fleet(10, 20_000, seed=7)
    approx = srcc_matrix(frame, ragged="approx")["value"].to_numpy()
    exact = srcc_matrix(frame, ragged="exact")["value"].to_numpy()
    assert 0 < np.abs(approx - exact).max() < 2e-3


def test_auto_is_exact_within_the_budget_and_approximate_beyond(monkeypatch):
    frame = gapped_fleet(6, 300, seed=3)
    exact = srcc_matrix(frame, ragged="exact")
    assert srcc_matrix(frame).equals(exact)
    monkeypatch.setattr(spearman_exact, "EXACT_RAGGED_ELEMENTS", 0)
    assert srcc_matrix(frame).equals(srcc_matrix(frame, ragged="approx"))
    assert not srcc_matrix(frame).equals(exact)


def test_unknown_ragged_choice_is_refused():
    with pytest.raises(InvalidSrccInput, match="ragged must be one of auto, exact, approx"):
        srcc_matrix(gapped_fleet(3, 40, seed=0), ragged="fast")


def test_devices_listed_in_several_runs_equal_the_grouped_table():
    """A table listing each device's rows in a few runs (here: two arch halves, one after the
    other) is read run by run; a repeated row in a later run is still refused."""
    grouped = gapped_fleet(4, 200, seed=2)
    halves = pl.concat([grouped.filter(pl.col("arch_id") < 100),
                        grouped.filter(pl.col("arch_id") >= 100)])
    assert halves["device_id"].rle().len() == 8
    assert srcc_matrix(halves).equals(srcc_matrix(grouped))
    with pytest.raises(InvalidSrccInput, match="more than one row for device 'd00'"):
        srcc_matrix(pl.concat([halves, grouped.head(1)]))


def test_spearman_sorts_each_device_without_the_wide_float64_matrix():
    """The pivot goes from the long table straight to the int32 run starts (4 + 1 bytes per cell,
    starts and coverage): NumPy never holds the 8-byte device × architecture matrix."""
    from oneproxy.analytics.srcc import _sorted, _wide

    frame = gapped_fleet(100, 2_000, seed=4)
    tracemalloc.start()
    devices, sorted_ = _sorted(frame)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    cells = 100 * 2_000
    assert peak < 7 * cells  # 5 bytes a cell and one device's temporaries, not 8 + 5
    values = _wide(frame)[1]
    expected = spearman_exact.sort_devices(
        ((np.arange(values.shape[1]), row) for row in values), values.shape)
    assert devices == sorted(frame["device_id"].unique().to_list())
    np.testing.assert_array_equal(sorted_.present, expected.present)
    np.testing.assert_array_equal(sorted_.start[sorted_.present], expected.start[expected.present])


@pytest.mark.parametrize("row", [
    np.array([3.0, -1.0, 2.5, -0.0, 0.0, 5e-324, 1e308, -1e308, 2.5]),
    np.array([np.inf, 1.0, -np.inf, 0.0, 2.0]),
    1.0 + np.arange(5000) % 3 * 1e-15,  # distinct only in the low mantissa bits
    np.repeat([-3.1541, np.nextafter(-3.1541, 0), 2.0, np.nextafter(2.0, 3)], 900)[::-1],
    np.random.default_rng(4).random(70_000).round(2),
])
def test_sort_order_is_a_permutation_that_sorts(row):
    from oneproxy.analytics.spearman_exact import _sort_order

    order, ordered = _sort_order(row, np.arange(row.size))
    np.testing.assert_array_equal(ordered, row[order])
    np.testing.assert_array_equal(np.sort(order), np.arange(row.size))
    assert (np.diff(row[order]) >= 0).all()


def test_ragged_pairs_are_counted_from_the_coverage_group_sizes():
    # 20 devices of one coverage and 4 with their own: the group's 190 pairs and its 20 with
    # each single device are blocks; the 6 pairs among the singles are not
    assert spearman_exact.ragged_pair_count([20, 1, 1, 1, 1]) == 6
    # a group of 2: its own pair and its 2 pairs with each single are too small for a block
    assert spearman_exact.ragged_pair_count([2, 1, 1, 1, 1]) == 1 + 4 * 2 + 6
    assert spearman_exact.ragged_pair_count([7]) == 0 and spearman_exact.ragged_pair_count([]) == 0
    assert spearman_exact.ragged_exact("auto", 6, 100) and not spearman_exact.ragged_exact(
        "approx", 6, 100)
    assert not spearman_exact.ragged_exact("auto", spearman_exact.EXACT_RAGGED_ELEMENTS, 2)
