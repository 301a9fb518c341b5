"""table_fingerprint memoised per table version: the warm path neither builds nor hashes rows."""

import pyarrow as pa
import pyarrow.dataset as ds
from oneproxy.warehouse.store import FINGERPRINT_MEMO, Warehouse, table_fingerprint


def test_memo_returns_the_same_fingerprint_without_building_the_rows(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    wh.commit({"devices": pa.table({"device_id": ["a", "b"], "x": [1, 2]})})
    version = wh.table_dir("devices")
    rows = pa.table({"device_id": ["a"]})
    built = []

    def build():
        built.append(1)
        return rows

    first = table_fingerprint(build, version=version, part="a")
    assert first == table_fingerprint(rows) and built == [1]
    assert table_fingerprint(build, version=version, part="a") == first and built == [1]
    other = table_fingerprint(pa.table({"device_id": ["b"]}), version=version, part="b")
    assert other != first and (version / FINGERPRINT_MEMO).is_file()
    assert table_fingerprint(build, version=version, part="b") == other and built == [1]
    assert ds.dataset(version, format="parquet").count_rows() == 2  # readers skip the memo


def test_a_damaged_memo_is_recomputed(tmp_path):
    version = tmp_path / "v"
    version.mkdir()
    (version / FINGERPRINT_MEMO).write_text("{not json")
    rows = pa.table({"a": [1.5]})
    assert table_fingerprint(rows, version=version, part="p") == table_fingerprint(rows)
    assert table_fingerprint(lambda: 1 / 0, version=version, part="p") == table_fingerprint(rows)


def test_fingerprint_ignores_chunking():
    one = pa.table({"a": [1, 2, 3]})
    two = pa.concat_tables([one.slice(0, 1), one.slice(1)])
    assert table_fingerprint(one) == table_fingerprint(two)
