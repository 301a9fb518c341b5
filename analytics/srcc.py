"""All-pairs rank correlation (Spearman SRCC or Kendall tau-b) between device latency series.

Spearman comes from `analytics.spearman_exact` (each device sorted once, exact ranks over any
shared coverage from counts of run starts, blocked matrix products; ragged per-device coverage
optionally approximated by `analytics.spearman_masked`). Kendall tau-b and the bootstrap
intervals work per coverage-group block: devices with the same coverage pattern are restricted to
the architectures two groups share.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, get_args

import numpy as np
import polars as pl
from oneproxy.analytics.spearman_exact import (
    DeviceSeries,
    Ragged,
    SortedDevices,
    SpearmanPairs,
    coverage_groups,
    ragged_exact,
    ragged_pair_count,
    sort_devices,
    spearman_pairs,
)
from oneproxy.warehouse.errors import OneproxyError, UnknownDevice
from oneproxy.warehouse.names import did_you_mean

Method = Literal["spearman", "kendall"]

PAIR_SCHEMA: dict[str, pl.DataType] = {
    "device_a": pl.String(),
    "device_b": pl.String(),
    "method": pl.String(),
    "n_common": pl.Int64(),
    "value": pl.Float64(),
    "reason": pl.String(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
}

_BOOTSTRAP_CHUNK_ELEMENTS = 1 << 24


class InvalidSrccInput(OneproxyError, ValueError):
    """A latency table or a parameter that the SRCC computation cannot use."""


def srcc_matrix(
    latency: pl.DataFrame,
    *,
    method: Method = "spearman",
    min_common: int = 30,
    ci: float | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    ragged: Ragged = "auto",
) -> pl.DataFrame:
    """Rank correlation of every unordered device pair over the architectures both measured.

    `latency` holds device_id, arch_id, latency_ms (null or NaN = failed measurement), one row per
    device and architecture. Returns one row per pair (device_a < device_b) with the columns of
    `PAIR_SCHEMA`; `value` is null with a `reason` when the pair shares fewer than `min_common`
    architectures or a device's latency is constant over them. With `ci` (e.g. 0.95) a percentile
    bootstrap interval over resampled architectures is added (Spearman only), seeded by `seed`.
    `ragged` chooses how Spearman treats pairs outside coverage groups (devices with their own
    gaps): "exact", "approx" (masked matrix products, `analytics.spearman_masked`) or "auto"
    (exact up to `spearman_exact.EXACT_RAGGED_ELEMENTS` pairs x architectures).
    """
    _check_parameters(method, min_common, ci, n_bootstrap, ragged)
    if method == "kendall":
        devices, values = _wide(latency)
        return _finish(_kendall_pairs(values, min_common), devices, method, min_common)
    intervals = (None if ci is None
                 else _intervals(_wide(latency)[1], min_common, ci, n_bootstrap, seed))
    devices, sorted_ = _sorted(latency)
    pairs = _spearman_frame(spearman_pairs(sorted_, min_common, ragged))
    if intervals is not None:
        pairs = pairs.drop("ci_low", "ci_high").join(intervals, on=["a", "b"], how="left")
    return _finish(pairs, devices, method, min_common)


def resolved_ragged(latency: pl.DataFrame, ragged: Ragged) -> Ragged:
    """`ragged`, with "auto" decided as `srcc_matrix` decides it on the whole of `latency`
    ("exact" or "approx"), so that a run cut into device blocks treats every pair as one run
    does. Coverage patterns are told apart by an order-free 64-bit hash of each device's
    measured architectures and their count."""
    if ragged != "auto":
        return ragged
    value = pl.col("latency_ms").cast(pl.Float64)
    measured = value.is_not_null() & value.is_not_nan()
    covers = latency.group_by("device_id").agg(
        pl.col("arch_id").filter(measured).hash(0).sum().alias("hash"),
        measured.sum().alias("count"))
    sizes = covers.group_by("hash", "count").len()["len"].to_list()
    pairs = ragged_pair_count(sizes)
    return "exact" if ragged_exact(ragged, pairs, latency["arch_id"].n_unique()) else "approx"


def to_square(
    pairs: pl.DataFrame, devices: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Symmetric device × device matrix of `value` (NaN where null, 1 on the diagonal)."""
    known = sorted(set(pairs["device_a"].to_list()) | set(pairs["device_b"].to_list()))
    order = known if devices is None else list(devices)
    _check_known(order, known)
    position = {device: i for i, device in enumerate(order)}
    chosen = pairs if devices is None else pairs.filter(
        pl.col("device_a").is_in(order) & pl.col("device_b").is_in(order))
    rows = np.array([position[d] for d in chosen["device_a"].to_list()], dtype=np.intp)
    cols = np.array([position[d] for d in chosen["device_b"].to_list()], dtype=np.intp)
    vals = chosen["value"].fill_null(np.nan).to_numpy()
    square = np.full((len(order), len(order)), np.nan)
    square[rows, cols] = vals
    square[cols, rows] = vals
    np.fill_diagonal(square, 1.0)
    return square, order


def against(pairs: pl.DataFrame, device: str, top: int) -> pl.DataFrame:
    """The `top` most and `top` least monotone partners of `device` (pairs with a value only).

    Columns: side ("most" / "least"), partner, value, n_common; most monotone first, then the
    least monotone ascending. A partner never appears on both sides.
    """
    if top < 1:
        raise InvalidSrccInput(f"top must be a positive number of partners, got {top}")
    known = sorted(set(pairs["device_a"].to_list()) | set(pairs["device_b"].to_list()))
    _check_known([device], known)
    partners = (
        pairs.filter((pl.col("device_a") == device) | (pl.col("device_b") == device))
        .filter(pl.col("value").is_not_null())
        .select(
            partner=pl.when(pl.col("device_a") == device)
            .then(pl.col("device_b"))
            .otherwise(pl.col("device_a")),
            value=pl.col("value"),
            n_common=pl.col("n_common"),
        )
        .sort(["value", "partner"], descending=[True, False])
    )
    most = partners.head(top)
    least = partners.slice(most.height).tail(top).reverse()
    return pl.concat(
        [
            most.select(pl.lit("most").alias("side"), pl.all()),
            least.select(pl.lit("least").alias("side"), pl.all()),
        ]
    )


def _check_parameters(
    method: str, min_common: int, ci: float | None, n_bootstrap: int, ragged: str
) -> None:
    if method not in ("spearman", "kendall"):
        raise InvalidSrccInput(f"method must be 'spearman' or 'kendall', got {method!r}")
    if ragged not in get_args(Ragged):
        raise InvalidSrccInput(
            f"ragged must be one of {', '.join(get_args(Ragged))}, got {ragged!r}"
        )
    if min_common < 2:
        raise InvalidSrccInput(
            f"min_common must be at least 2 shared architectures, got {min_common}"
        )
    if ci is None:
        return
    if not 0.0 < ci < 1.0:
        raise InvalidSrccInput(f"ci must be a coverage level strictly between 0 and 1, got {ci}")
    if method != "spearman":
        raise InvalidSrccInput(
            f"bootstrap intervals (ci={ci}) are computed for method='spearman' only, "
            f"got method={method!r}; drop ci or use spearman"
        )
    if n_bootstrap < 2:
        raise InvalidSrccInput(f"n_bootstrap must be at least 2 resamples, got {n_bootstrap}")


def _check_known(asked: Sequence[str], known: list[str]) -> None:
    known_set = set(known)
    unknown = [d for d in asked if d not in known_set]
    if unknown:
        shown = ", ".join(known[:10]) + (", …" if len(known) > 10 else "")
        raise UnknownDevice(
            f"device {unknown[0]!r} is not in the SRCC pair table; known devices: "
            f"{shown or '(none)'} — list them with `oneproxy devices`"
            f"{did_you_mean(unknown[0], known)}"
        )


def _device_series(latency: pl.DataFrame) -> tuple[list[str], int, Iterator[DeviceSeries]]:
    """Sorted device ids, the number of architecture columns, and each device's series in that
    order: its columns, increasing, and their latencies (float64, NaN where null). A repeated
    (device, architecture) row raises when its device's series is reached."""
    missing = sorted({"device_id", "arch_id", "latency_ms"} - set(latency.columns))
    if missing:
        raise InvalidSrccInput(
            f"latency table lacks column(s) {', '.join(missing)}; expected device_id, arch_id, "
            f"latency_ms with one row per device and architecture"
        )
    if not latency.schema["arch_id"].is_integer():
        raise InvalidSrccInput(
            f"latency.arch_id must be an integer column, got {latency.schema['arch_id']}"
        )
    if not latency.schema["latency_ms"].is_numeric():
        raise InvalidSrccInput(
            f"latency.latency_ms must be numeric milliseconds, got {latency.schema['latency_ms']}"
        )
    device_col = latency.get_column("device_id").cast(pl.String)
    if device_col.null_count():
        raise InvalidSrccInput(
            f"latency.device_id has {device_col.null_count()} null value(s); "
            f"every row needs a device"
        )
    arch_col = latency.get_column("arch_id")
    if arch_col.null_count():
        raise InvalidSrccInput(
            f"latency.arch_id has {arch_col.null_count()} null value(s); every row needs an arch_id"
        )
    devices, device_rows = _device_rows(device_col)
    column_of, n_archs = _arch_columns(arch_col, devices.len())
    latency_col = latency.get_column("latency_ms")
    if not latency_col.dtype.is_float():
        latency_col = latency_col.cast(pl.Float64)

    def series() -> Iterator[DeviceSeries]:
        for rows in device_rows:
            columns = column_of(_take(arch_col, rows).to_numpy())
            values = _take(latency_col, rows).to_numpy().astype(np.float64, copy=False)
            if not (columns[1:] > columns[:-1]).all():
                by_column = np.argsort(columns, kind="stable")
                columns, values = columns[by_column], values[by_column]
                if (columns[1:] == columns[:-1]).any():
                    raise _duplicate_error(latency)
            yield columns, values

    return devices.to_list(), n_archs, series()


def _wide(latency: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """Sorted device ids and a (device × architecture) float64 matrix, NaN where absent."""
    devices, n_archs, series = _device_series(latency)
    values = np.full((len(devices), n_archs), np.nan)
    for row, (columns, latencies) in zip(values, series, strict=True):
        row[columns] = latencies
    return devices, values


def _sorted(latency: pl.DataFrame) -> tuple[list[str], SortedDevices]:
    """Sorted device ids and every device sorted (`sort_devices`), straight from the long table:
    no device × architecture float64 matrix is built."""
    devices, n_archs, series = _device_series(latency)
    return devices, sort_devices(series, (len(devices), n_archs))


def _device_rows(device_col: pl.Series) -> tuple[pl.Series, Iterator[slice | np.ndarray]]:
    """The sorted distinct devices and the rows of each, in that order: a slice when they are one
    run (a table listing each device's rows together), else their indices."""
    runs = device_col.rle()
    if runs.len() * 8 > device_col.len():  # scattered rows: grouped by one sort of their codes
        devices = device_col.unique().sort()
        codes = device_col.cast(pl.Enum(devices)).to_physical()
        return devices, _by_code(codes.arg_sort().to_numpy(), codes.to_numpy(), devices.len())
    names = runs.struct.field("value")
    devices = names.unique().sort()
    codes = names.cast(pl.Enum(devices)).to_physical().to_numpy()
    lengths = runs.struct.field("len").to_numpy().astype(np.int64)
    starts = np.cumsum(lengths) - lengths

    def rows() -> Iterator[slice | np.ndarray]:
        for mine in _by_code(np.argsort(codes), codes, devices.len()):
            if mine.size == 1:
                yield slice(int(starts[mine[0]]), int(starts[mine[0]] + lengths[mine[0]]))
            else:  # the device's runs, concatenated
                within = np.cumsum(lengths[mine]) - lengths[mine]
                yield np.arange(lengths[mine].sum()) + np.repeat(starts[mine] - within,
                                                                 lengths[mine])

    return devices, rows()


def _by_code(order: np.ndarray, codes: np.ndarray, n_codes: int) -> Iterator[np.ndarray]:
    """The parts of `order` (which sorts `codes`) that hold code 0, 1, … n_codes - 1."""
    counts = np.bincount(codes, minlength=n_codes)
    for end, count in zip(np.cumsum(counts), counts, strict=True):
        yield order[end - count:end]


def _take(column: pl.Series, rows: slice | np.ndarray) -> pl.Series:
    """The rows of `column` that a slice or an index array picks."""
    if isinstance(rows, slice):
        return column.slice(rows.start, rows.stop - rows.start)
    return column.gather(rows)


def _arch_columns(
    arch_col: pl.Series, n_devices: int
) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """How to map arch ids (a NumPy slice of `arch_col`) to column indices, and the number of
    columns.

    Dense ids (NB201's 0…15624) index columns directly as arch_id − min; an id range more than
    twice as large as the table would fill falls back to ranks among the distinct ids. Columns
    no device measured are all-NaN and drop out of every shared set.
    """
    if arch_col.len() == 0:
        return lambda ids: np.zeros(0, dtype=np.intp), 0
    low, high = arch_col.min(), arch_col.max()
    if n_devices * (high - low + 1) <= 2 * arch_col.len():
        origin = (np.uint64 if arch_col.dtype == pl.UInt64 else np.int64)(low)
        return lambda ids: (ids - origin).astype(np.intp, copy=False), high - low + 1
    archs = arch_col.unique().sort().to_numpy()
    return lambda ids: np.searchsorted(archs, ids), archs.size


def _duplicate_error(latency: pl.DataFrame) -> InvalidSrccInput:
    first = latency.filter(pl.struct("device_id", "arch_id").is_duplicated()).row(0, named=True)
    return InvalidSrccInput(
        f"latency has more than one row for device {first['device_id']!r}, arch_id "
        f"{first['arch_id']}; pass one space and dataset at a time (filter space_id, dataset)"
    )


def _group_blocks(values: np.ndarray):
    """Yield (members of group g, members of group h, shared coverage) for every g <= h."""
    present = ~np.isnan(values)
    groups = coverage_groups(present)
    for g, members_g in enumerate(groups):
        for members_h in groups[g:]:
            yield members_g, members_h, present[members_g[0]] & present[members_h[0]]


def _block_index(members_g: np.ndarray, members_h: np.ndarray) -> tuple[np.ndarray, ...]:
    """Block positions (rows, cols) of a block's pairs and their device indices a < b."""
    if members_g is members_h:
        rows, cols = np.triu_indices(members_g.size, k=1)
    else:
        rows, cols = (ix.ravel() for ix in np.indices((members_g.size, members_h.size)))
    dev_g, dev_h = members_g[rows], members_h[cols]
    return rows, cols, np.minimum(dev_g, dev_h), np.maximum(dev_g, dev_h)


def _spearman_frame(pairs: SpearmanPairs) -> pl.DataFrame:
    nan = np.full(pairs.a.size, np.nan)
    return pl.DataFrame(
        {
            "a": pairs.a, "b": pairs.b, "n_common": pairs.n_common, "value": pairs.value,
            "const_a": pairs.const_a, "const_b": pairs.const_b, "ci_low": nan, "ci_high": nan,
        },
        schema=_INDEX_SCHEMA,
    )


def _kendall_pairs(values: np.ndarray, min_common: int) -> pl.DataFrame:
    """Kendall tau-b of every pair, one coverage-group block at a time."""
    frames = []
    for members_g, members_h, coverage in _group_blocks(values):
        rows, cols, a, b = _block_index(members_g, members_h)
        n_common = int(np.count_nonzero(coverage))
        corr = np.full((members_g.size, members_h.size), np.nan)
        const_g = np.zeros(members_g.size, dtype=bool)
        const_h = np.zeros(members_h.size, dtype=bool)
        if n_common >= min_common:
            x_g = values[np.ix_(members_g, coverage)]
            x_h = values[np.ix_(members_h, coverage)]
            const_g = (x_g == x_g[:, :1]).all(axis=1)
            const_h = (x_h == x_h[:, :1]).all(axis=1)
            corr = _kendall_block(x_g, x_h, members_g is members_h, const_g, const_h)
        swap = members_g[rows] > members_h[cols]
        frames.append(pl.DataFrame(
            {
                "a": a, "b": b, "n_common": np.full(rows.size, n_common, dtype=np.int64),
                "value": corr[rows, cols],
                "const_a": np.where(swap, const_h[cols], const_g[rows]),
                "const_b": np.where(swap, const_g[rows], const_h[cols]),
                "ci_low": np.full(rows.size, np.nan), "ci_high": np.full(rows.size, np.nan),
            },
            schema=_INDEX_SCHEMA,
        ))
    return pl.concat(frames) if frames else pl.DataFrame(schema=_INDEX_SCHEMA)


def _intervals(
    values: np.ndarray, min_common: int, ci: float, n_bootstrap: int, seed: int
) -> pl.DataFrame:
    """Bootstrap interval (a, b, ci_low, ci_high) of every pair sharing >= min_common archs."""
    rng = np.random.default_rng(seed)
    frames = []
    for members_g, members_h, coverage in _group_blocks(values):
        if np.count_nonzero(coverage) < min_common:
            continue
        rows, cols, a, b = _block_index(members_g, members_h)
        x_g = values[np.ix_(members_g, coverage)]
        x_h = values[np.ix_(members_h, coverage)]
        low, high = _bootstrap_block(x_g, x_h, members_g is members_h, ci, n_bootstrap, rng)
        frames.append(pl.DataFrame(
            {"a": a, "b": b, "ci_low": low[rows, cols], "ci_high": high[rows, cols]},
            schema={k: _INDEX_SCHEMA[k] for k in ("a", "b", "ci_low", "ci_high")},
        ))
    return pl.concat(frames) if frames else pl.DataFrame(
        schema={k: _INDEX_SCHEMA[k] for k in ("a", "b", "ci_low", "ci_high")})


_INDEX_SCHEMA = {
    "a": pl.Int64,
    "b": pl.Int64,
    "n_common": pl.Int64,
    "value": pl.Float64,
    "const_a": pl.Boolean,
    "const_b": pl.Boolean,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
}


def _centred_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis minus their mean (n+1)/2: exact half-integers.

    Same ranks as `scipy.stats.rankdata(x, axis=-1)`; Polars ranks the rows in parallel.
    """
    rows = x.reshape(-1, x.shape[-1])
    columns = pl.DataFrame({str(i): row for i, row in enumerate(rows)})
    ranks = columns.select(pl.all().rank("average")).to_numpy()
    return ranks.T.reshape(x.shape) - (x.shape[-1] + 1) / 2


def _correlate(r_g: np.ndarray, r_h: np.ndarray) -> np.ndarray:
    """Pearson correlations of centred rows, batched over leading axes; NaN for constant rows."""
    norm_g = np.sqrt(np.einsum("...ij,...ij->...i", r_g, r_g))
    norm_h = norm_g if r_h is r_g else np.sqrt(np.einsum("...ij,...ij->...i", r_h, r_h))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (r_g @ np.swapaxes(r_h, -1, -2)) / (norm_g[..., :, None] * norm_h[..., None, :])
    return np.clip(corr, -1.0, 1.0)


def _kendall_block(
    x_g: np.ndarray, x_h: np.ndarray, same: bool, const_g: np.ndarray, const_h: np.ndarray
) -> np.ndarray:
    from scipy.stats import kendalltau  # slow to import; Spearman never needs it

    corr = np.full((x_g.shape[0], x_h.shape[0]), np.nan)
    for i in np.flatnonzero(~const_g):
        for j in np.flatnonzero(~const_h):
            if not same or j > i:
                corr[i, j] = kendalltau(x_g[i], x_h[j]).statistic
    return corr


def _bootstrap_block(
    x_g: np.ndarray,
    x_h: np.ndarray,
    same: bool,
    ci: float,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of Spearman correlations over architecture resamples of one block."""
    n_rows = x_g.shape[0] + (0 if same else x_h.shape[0])
    n = x_g.shape[1]
    chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // (n_rows * n))
    draws = []
    for start in range(0, n_bootstrap, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))
        r_g = _centred_ranks(np.moveaxis(x_g[:, idx], 0, 1))
        r_h = r_g if same else _centred_ranks(np.moveaxis(x_h[:, idx], 0, 1))
        draws.append(_correlate(r_g, r_h))
    tail = (1.0 - ci) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(np.concatenate(draws), [tail, 1.0 - tail], axis=0)
    return low, high


def _finish(pairs: pl.DataFrame, devices: list[str], method: str, min_common: int) -> pl.DataFrame:
    names = pl.Series(devices, dtype=pl.String)
    valid = (pl.col("n_common") >= min_common) & ~pl.col("const_a") & ~pl.col("const_b")
    ordered = pairs.sort(["a", "b"])
    ordered = ordered.with_columns(
        device_a=names.gather(ordered["a"]), device_b=names.gather(ordered["b"]),
        valid=valid,
    )
    return ordered.select(
        "device_a",
        "device_b",
        method=pl.lit(method, dtype=pl.String),
        n_common="n_common",
        value=pl.when("valid").then(pl.col("value")),
        reason=(pl.lit(None, dtype=pl.String) if ordered["valid"].all()
                else _reason(min_common)),
        ci_low=pl.when("valid").then(pl.col("ci_low").fill_nan(None)),
        ci_high=pl.when("valid").then(pl.col("ci_high").fill_nan(None)),
    )


def _reason(min_common: int) -> pl.Expr:
    """Why a pair has no value: too few shared architectures, or which device is constant."""
    n = pl.col("n_common").cast(pl.String)
    shared = pl.concat_str(pl.lit(" over the "), n, pl.lit(" shared architectures"))
    return (
        pl.when(pl.col("n_common") < min_common)
        .then(pl.concat_str(pl.lit("only "), n, pl.lit(f" shared architectures (< {min_common})")))
        .when(pl.col("const_a") & pl.col("const_b"))
        .then(
            pl.concat_str(
                pl.lit("constant latency on both "),
                pl.col("device_a"),
                pl.lit(" and "),
                pl.col("device_b"),
                shared,
            )
        )
        .when(pl.col("const_a"))
        .then(pl.concat_str(pl.lit("constant latency on "), pl.col("device_a"), shared))
        .when(pl.col("const_b"))
        .then(pl.concat_str(pl.lit("constant latency on "), pl.col("device_b"), shared))
    )
