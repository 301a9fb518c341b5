"""Exact all-pairs Spearman correlation under partial coverage, each device sorted once.

One sort gives every architecture i of a device its run start s(i): how many of the device's
values are strictly smaller. Over any subset S of its coverage, i's rank follows from counts of
those starts: with below(i) = #{j in S : s(j) < s(i)} and ties(i) = #{j in S : s(j) = s(i)},
the doubled centred rank is v = 2r - (n + 1) = 2 below(i) + ties(i) - n, an integer of magnitude
below n: exact in float32 while n < 2**24. Products of ranks are summed in float64, exact while
the sums stay below 2**53 (n < 2 * 10**5 shared architectures), so a correlation carries only
the rounding of its final division and square root.

Devices sharing a coverage pattern form a group; the Spearman block of two groups is one blocked
matrix product of their ranks over the shared coverage. Pairs of blocks too small for that
(`_as_block`; ragged, per-device coverage) are ranked over each pair's own shared set, in batches
of pairs, which costs pairs x architectures. With `ragged="approx"` (or `"auto"` beyond
`EXACT_RAGGED_ELEMENTS`) they take `analytics.spearman_masked` instead: masked matrix products,
linear in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from oneproxy.analytics.spearman_masked import masked_pairs

Ragged = Literal["auto", "exact", "approx"]

GEMM_MIN_PAIRS = 16
_BLOCK_COST_ROWS = 4
EXACT_RAGGED_ELEMENTS = 2 * 10**9
_CHUNK_ELEMENTS = 1 << 21
_RANK_TABLE_ELEMENTS = 1 << 16
_GEMM_BYTES = 1 << 26
_FLOAT64_RANKS = 1 << 22


DeviceSeries = tuple[np.ndarray, np.ndarray]  # a device's increasing columns, values (NaN absent)


@dataclass(frozen=True)
class SpearmanPairs:
    """Per pair a < b (device row indices): shared count, correlation, constant flags."""

    a: np.ndarray
    b: np.ndarray
    n_common: np.ndarray
    value: np.ndarray
    const_a: np.ndarray
    const_b: np.ndarray


@dataclass(frozen=True)
class SortedDevices:
    """Each device's run starts (int32, device x architecture) and its coverage mask."""

    start: np.ndarray
    present: np.ndarray


def sort_devices(series: Iterable[DeviceSeries], shape: tuple[int, int]) -> SortedDevices:
    """Run starts of `shape[0]` devices over `shape[1]` columns from each device's series (its
    increasing columns and their values, NaN = absent), one sort of its measured values per
    device (NumPy sorts NaN slowly). An absent entry gets a start at or above the device's
    count, which no rank reads."""
    start = np.empty(shape, dtype=np.int32)
    present = np.zeros(shape, dtype=bool)
    positions = np.arange(shape[1], dtype=np.int64)
    new_run = np.ones(shape[1], dtype=bool)
    for device, (columns, values) in enumerate(series):
        absent = np.isnan(values)
        if absent.any():
            columns, values = columns[~absent], values[~absent]
        order, ordered = _sort_order(values, positions)
        row, covered = start[device], present[device]
        if columns.size == shape[1]:  # increasing, every column: columns[order] is order
            covered[:] = True
        else:
            covered[columns] = True
            row[~covered] = positions[columns.size:]
            order = columns[order]
        runs = new_run[:order.size]
        np.not_equal(ordered[1:], ordered[:-1], out=runs[1:])
        run_starts = np.where(runs, positions[:order.size], 0)
        np.maximum.accumulate(run_starts, out=run_starts)  # int64: NumPy's int32 scan is slow
        row[order] = run_starts.astype(np.int32)  # an int32 scatter: a casting one is slower
    return SortedDevices(start, present)


def _sort_order(row: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An order that sorts `row` (float64, no NaN), ties in any order, and the sorted row;
    `positions` is arange(at least row.size) in int64.

    NumPy sorts float64 values about four times faster than it argsorts them. Each value's low
    mantissa bits are replaced by its position and the floats sorted. Values that differ above
    those bits keep their order, so the result can only err within runs of values equal above
    them (apart by a relative 2**-35 at 100,000 architectures, as float noise of one value
    leaves them): a stable argsort of that nearly sorted row puts them right.
    """
    bits = max(1, (row.size - 1).bit_length())
    if bits <= 32 and np.isfinite(row).all():  # a NaN bit pattern would not survive the sort
        low = np.int64((1 << bits) - 1)
        order = row.view(np.int64) & ~low
        order |= positions[:row.size]
        order.view(np.float64).sort()
        order &= low
        ordered = row[order]
        if (ordered[1:] < ordered[:-1]).any():
            fix = np.argsort(ordered, kind="stable")
            order, ordered = order[fix], ordered[fix]
        return order, ordered
    order = np.argsort(row)
    return order, row[order]


def spearman_pairs(
    sorted_: SortedDevices, min_common: int, ragged: Ragged = "auto"
) -> SpearmanPairs:
    """Spearman correlation of every device pair on the architectures both cover.

    `value` is NaN where the pair shares fewer than `min_common` columns or a device is constant
    over them (then its `const_*` flag is set). Pairs outside coverage groups are exact with
    `ragged="exact"`, approximate (`analytics.spearman_masked`) with `"approx"`, and with
    `"auto"` exact while their work, pairs x architectures, stays within `EXACT_RAGGED_ELEMENTS`.
    """
    groups = coverage_groups(sorted_.present)
    parts: list[SpearmanPairs] = []
    ragged_a: list[np.ndarray] = []
    ragged_b: list[np.ndarray] = []
    for g, members_g in enumerate(groups):
        for members_h in groups[g:]:
            rows, cols = _block_positions(members_g, members_h)
            if _as_block(rows.size, members_g.size, members_h.size, members_g is members_h):
                parts.append(_group_block(sorted_, members_g, members_h, min_common))
            elif rows.size:
                ragged_a.append(members_g[rows])
                ragged_b.append(members_h[cols])
    if ragged_a:
        a, b = np.concatenate(ragged_a), np.concatenate(ragged_b)
        exact = ragged_exact(ragged, a.size, sorted_.start.shape[1])
        pairs = _ragged_pairs if exact else _approx_pairs
        parts.append(pairs(sorted_, a, b, min_common))
    return _ordered(parts)


def ragged_exact(ragged: Ragged, n_pairs: int, n_archs: int) -> bool:
    """Whether `n_pairs` pairs outside coverage groups take the exact kernel over `n_archs`
    columns: always with "exact", never with "approx", with "auto" while n_pairs x n_archs stays
    within `EXACT_RAGGED_ELEMENTS`."""
    return ragged == "exact" or (ragged == "auto" and n_pairs * n_archs <= EXACT_RAGGED_ELEMENTS)


def ragged_pair_count(group_sizes: Sequence[int]) -> int:
    """How many device pairs `spearman_pairs` leaves outside group blocks, from the sizes of the
    coverage groups alone."""
    count = 0
    for g, size_g in enumerate(group_sizes):
        for h in range(g, len(group_sizes)):
            same = g == h
            n_pairs = size_g * (size_g - 1) // 2 if same else size_g * group_sizes[h]
            if n_pairs and not _as_block(n_pairs, size_g, group_sizes[h], same):
                count += n_pairs
    return count


def _as_block(n_pairs: int, size_g: int, size_h: int, same: bool) -> bool:
    """Whether two groups' pairs take one group block rather than the per-pair path.

    A block ranks each member once over the shared columns, the pair path both devices of
    every pair: blocks of `GEMM_MIN_PAIRS` pairs or more, and smaller ones that rank fewer rows
    than their pairs would, by more than a block's fixed cost (the real set's 12-device group
    against a single device: 13 rows instead of 24).
    """
    ranked = size_g + (0 if same else size_h)
    return n_pairs >= GEMM_MIN_PAIRS or 2 * n_pairs >= ranked + _BLOCK_COST_ROWS


def coverage_groups(present: np.ndarray) -> list[np.ndarray]:
    """Device row indices grouped by identical coverage pattern, in first-seen order."""
    by_pattern: dict[bytes, list[int]] = {}
    for device, pattern in enumerate(np.packbits(present, axis=1)):
        by_pattern.setdefault(pattern.tobytes(), []).append(device)
    return [np.array(members, dtype=np.intp) for members in by_pattern.values()]


def own_ranks(sorted_: SortedDevices, devices: np.ndarray) -> np.ndarray:
    """float32 doubled centred ranks of `devices` over their own coverage, 0 where absent."""
    out = np.empty((devices.size, sorted_.start.shape[1]), dtype=np.float32)
    step = _table_rows(sorted_)
    for lo in range(0, devices.size, step):
        rows = devices[lo:lo + step]
        mask = sorted_.present[rows]
        _own_ranks(sorted_.start[rows], np.count_nonzero(mask, axis=1), _span(sorted_),
                   out[lo:lo + step])
        out[lo:lo + step][~mask] = 0
    return out


def _span(sorted_: SortedDevices) -> int:
    return sorted_.start.shape[1] + 1


def _row_step(sorted_: SortedDevices) -> int:
    return max(1, _CHUNK_ELEMENTS // _span(sorted_))


def _table_rows(sorted_: SortedDevices) -> int:
    """Rows per count table: see `_ranks`."""
    return max(1, _RANK_TABLE_ELEMENTS // _span(sorted_))


def _own_ranks(starts: np.ndarray, n: np.ndarray, span: int, out: np.ndarray) -> None:
    """Write into `out` the doubled centred ranks of each row of `starts` over the device's
    whole coverage of `n` columns: there below(i) is the start itself, so v = 2 s + ties - n
    needs only the count of each start (no running sum). Columns off the coverage (starts at
    or above n) get values no caller reads."""
    rows = starts.shape[0]
    n = np.broadcast_to(np.reshape(n, (-1, 1)), (rows, 1))
    keys = starts + np.arange(0, rows * span, span, dtype=np.intp)[:, None]
    ranks = np.bincount(keys.ravel(), minlength=rows * span).take(keys)  # ties
    ranks += starts
    ranks += starts
    ranks -= n
    np.copyto(out, ranks, casting="unsafe")


def _ranks(starts: np.ndarray, mask: np.ndarray | None, n: np.ndarray, span: int,
           out: np.ndarray) -> None:
    """Write into `out` the doubled centred ranks of each row of `starts` (int32) over the `n`
    columns where `mask` holds (all columns when None), 0 elsewhere. Equal starts tie; every
    start is below span - 1, the bucket of the columns off the mask.

    The count tables are built a few rows at a time (`_RANK_TABLE_ELEMENTS`): small temporaries
    are reused by the allocator, while every fresh large array costs a page fault per 4 KiB,
    which took most of the time of the real set's rank tables.
    """
    rows, width = starts.shape
    n = np.broadcast_to(np.reshape(n, -1), (rows,))
    step = max(1, _RANK_TABLE_ELEMENTS // span)
    for lo in range(0, rows, step):
        part = starts[lo:lo + step]
        r = part.shape[0]
        keys = (part if mask is None else np.where(mask[lo:lo + step], part, span - 1)) \
            + np.arange(0, r * span, span, dtype=np.intp)[:, None]
        counts = np.bincount(keys.ravel(), minlength=r * span)
        table = np.cumsum(counts, dtype=np.int64)  # row k ends at (k + 1) * width
        table *= 2
        table -= counts  # 2 below + ties, plus 2 k width from the rows before
        base = n[lo:lo + r] + 2 * width * np.arange(r, dtype=np.int64)
        table[span - 1::span] = base  # the columns off the mask come out 0
        np.subtract(table.take(keys), base[:, None], out=out[lo:lo + r], casting="unsafe")


def _shared_ranks(sorted_: SortedDevices, devices: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Doubled centred ranks of `devices`, one group's members, over `columns` (covered by all of
    them; when they are the group's whole coverage, from counts of their starts alone).

    Their starts on covered columns are below the group's coverage count, so the count tables
    span that many buckets, not every architecture: the real set's 1,999-architecture group
    ranks over 2,000 buckets, not 15,626. Up to `_FLOAT64_RANKS` values they come in float64,
    which the products take as they are; larger blocks in float32 (exact, half the memory),
    which `gram` casts a column slice at a time.
    """
    size = devices.size * columns.size
    out = np.empty((devices.size, columns.size),
                   dtype=np.float64 if size <= _FLOAT64_RANKS else np.float32)
    covered = np.count_nonzero(sorted_.present[devices[0]])
    span = covered + 1
    step = max(1, _RANK_TABLE_ELEMENTS // span)
    for lo in range(0, devices.size, step):
        starts = _columns(sorted_.start[devices[lo:lo + step]], columns, columns.size)
        if columns.size == covered:
            _own_ranks(starts, np.array(columns.size), span, out[lo:lo + step])
        else:
            _ranks(starts, None, np.array(columns.size), span, out[lo:lo + step])
    return out


def _block_positions(
    members_g: np.ndarray, members_h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in g, in h) of the pairs of two groups (within one group if they are one)."""
    if members_g is members_h:
        rows, cols = np.triu_indices(members_g.size, k=1)
    else:
        rows, cols = (ix.ravel() for ix in np.indices((members_g.size, members_h.size)))
    return rows, cols


def gram(left: np.ndarray, right: np.ndarray | None) -> np.ndarray:
    """left @ right.T (left @ left.T when right is None) in float64, blocked over columns
    (float64 operands are used as they are, others cast one block at a time)."""
    rows = left.shape[0] + (0 if right is None else right.shape[0])
    step = max(1, _GEMM_BYTES // (8 * max(rows, 1)))
    out = np.zeros((left.shape[0], left.shape[0] if right is None else right.shape[0]))
    for lo in range(0, left.shape[1], step):
        part = np.asarray(left[:, lo:lo + step], dtype=np.float64)
        other = part if right is None else np.asarray(right[:, lo:lo + step], dtype=np.float64)
        out += part @ other.T
    return out


def _group_block(
    sorted_: SortedDevices, members_g: np.ndarray, members_h: np.ndarray, min_common: int
) -> SpearmanPairs:
    same = members_g is members_h
    columns = np.flatnonzero(sorted_.present[members_g[0]] & sorted_.present[members_h[0]])
    rows, cols = _block_positions(members_g, members_h)
    value = np.full(rows.size, np.nan)
    const_g = np.zeros(members_g.size, dtype=bool)
    const_h = np.zeros(members_h.size, dtype=bool)
    if columns.size >= min_common:
        ranks_g = _shared_ranks(sorted_, members_g, columns)
        ranks_h = ranks_g if same else _shared_ranks(sorted_, members_h, columns)
        cross = gram(ranks_g, None if same else ranks_h)
        norm_g = np.sqrt(np.diag(cross)) if same else _norms(ranks_g)
        norm_h = norm_g if same else _norms(ranks_h)
        const_g, const_h = norm_g == 0, norm_h == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            value = cross[rows, cols] / (norm_g[rows] * norm_h[cols])
    return SpearmanPairs(
        members_g[rows], members_h[cols], np.full(rows.size, columns.size, dtype=np.int64),
        np.clip(value, -1.0, 1.0), const_g[rows], const_h[cols],
    )


def _norms(ranks: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", ranks, ranks, dtype=np.float64))


def _ragged_pairs(
    sorted_: SortedDevices, a: np.ndarray, b: np.ndarray, min_common: int
) -> SpearmanPairs:
    """Exact pairs with their own shared coverage, in batches: both sides ranked under its mask."""
    n_common = np.zeros(a.size, dtype=np.int64)
    value = np.full(a.size, np.nan)
    const_a = np.zeros(a.size, dtype=bool)
    const_b = np.zeros(a.size, dtype=bool)
    step = _row_step(sorted_)
    for lo in range(0, a.size, step):
        batch_a, batch_b = a[lo:lo + step], b[lo:lo + step]
        masks = sorted_.present[batch_a] & sorted_.present[batch_b]
        used = np.flatnonzero(masks.any(axis=0))  # the other columns rank nothing
        if used.size < masks.shape[1]:
            masks = masks[:, used]
        n = n_common[lo:lo + step] = np.count_nonzero(masks, axis=1)
        ranks_a, ranks_b = np.empty((2, *masks.shape))
        for batch, ranks in ((batch_a, ranks_a), (batch_b, ranks_b)):
            _ranks(_columns(sorted_.start[batch], used, masks.shape[1]), masks, n,
                   _span(sorted_), ranks)
        norm_a, norm_b = _norms(ranks_a), _norms(ranks_b)
        const_a[lo:lo + step], const_b[lo:lo + step] = norm_a == 0, norm_b == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            value[lo:lo + step] = np.einsum("ij,ij->i", ranks_a, ranks_b) / (norm_a * norm_b)
    value[n_common < min_common] = np.nan
    return SpearmanPairs(a, b, n_common, np.clip(value, -1.0, 1.0), const_a, const_b)


def _columns(rows: np.ndarray, used: np.ndarray, n_used: int) -> np.ndarray:
    """`rows` restricted to the columns `used` (all of them when there are as many)."""
    return rows if n_used == rows.shape[1] else rows.take(used, axis=1)


def _approx_pairs(
    sorted_: SortedDevices, a: np.ndarray, b: np.ndarray, min_common: int
) -> SpearmanPairs:
    """Pairs with their own shared coverage by masked matrix products (see spearman_masked)."""
    devices, index = np.unique(np.concatenate([a, b]), return_inverse=True)
    n_common, value, const_a, const_b = masked_pairs(
        own_ranks(sorted_, devices), sorted_.present[devices], index[:a.size], index[a.size:],
        min_common)
    return SpearmanPairs(a, b, n_common, value, const_a, const_b)


def _ordered(parts: list[SpearmanPairs]) -> SpearmanPairs:
    """All parts concatenated, each pair oriented a < b."""
    if not parts:
        empty = np.zeros(0, dtype=np.intp)
        return SpearmanPairs(empty, empty, empty.astype(np.int64), np.zeros(0),
                             np.zeros(0, bool), np.zeros(0, bool))
    a, b, n, value, const_a, const_b = (
        np.concatenate([getattr(p, f) for p in parts])
        for f in ("a", "b", "n_common", "value", "const_a", "const_b")
    )
    swap = a > b
    return SpearmanPairs(
        np.where(swap, b, a), np.where(swap, a, b), n, value,
        np.where(swap, const_b, const_a), np.where(swap, const_a, const_b),
    )
