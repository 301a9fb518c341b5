"""Fault injection: concurrent writers, kill points, a full disk, damaged files, forged pickles
and archives, SQL escapes and tampered model files. Each case asserts that nothing was lost,
no wrong answer was given, nothing crashed, and the message is one clear line."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from oneproxy.analytics.predictors.files import (
    PredictorFileError,
    describe,
    load_predictor,
    save_predictor,
)
from oneproxy.analytics.predictors.kernel import KernelLatencyPredictor
from oneproxy.analytics.predictors.linear import LinearLatencyPredictor
from oneproxy.warehouse import atomic, catalog
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.errors import DiskFull, WarehouseConflict, WarehouseDamaged
from oneproxy.warehouse.schemas import LATENCY
from oneproxy.warehouse.store import Warehouse, replace_rows

from oneproxy.cli import main

pytestmark = pytest.mark.faults
MAX_MESSAGE = 600


def rows(device: str, values: list[float], space: str = "nb201") -> pa.Table:
    return pa.Table.from_pylist([
        {"space_id": space, "dataset": "cifar10", "device_id": device, "arch_id": i,
         "latency_ms": v, "status": "ok", "source_id": f"src_{device}"}
        for i, v in enumerate(values)], schema=LATENCY)


def notes() -> pa.Table:
    return pa.table({"k": ["a", "b", "c"], "v": [1.0, 2.0, 3.0]})


def small_warehouse(root: Path) -> Warehouse:
    """Two partitions of `latency` and a plain table `notes`."""
    wh = Warehouse(root)
    wh.commit({"latency": pa.concat_tables([rows("d1", [1.0, 2.0]),
                                            rows("d2", [4.0], space="fbnet")]),
               "notes": notes()})
    return wh


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    text = result.output.strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    assert len(text) < MAX_MESSAGE
    for needle in needles:
        assert needle in text, text


def total(wh: Warehouse) -> float:
    return query(wh, "SELECT sum(latency_ms) AS s FROM latency").to_pylist()[0]["s"]


def data_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.relative_to(root).parts[0].startswith(".")}


# --- concurrent writers ----------------------------------------------------------------------


WRITER_SCRIPT = """
import sys, time
import pyarrow as pa
from oneproxy.warehouse.schemas import LATENCY
from oneproxy.warehouse.store import Warehouse, replace_rows
device, start, roots = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
new = pa.Table.from_pylist([{"space_id": "nb201", "dataset": "cifar10", "device_id": device,
                             "arch_id": i, "latency_ms": 1.0, "status": "ok",
                             "source_id": device} for i in range(3)], schema=LATENCY)
for trial, root in enumerate(roots):
    time.sleep(max(0.0, start + 0.3 * trial - time.time()))  # both writers start together
    wh = Warehouse(root)
    with wh.writing():
        old = wh.read_or_none("latency")
        time.sleep(0.02)  # widen the window between read and commit
        wh.commit({"latency": replace_rows(old, new, ["device_id", "arch_id"]),
                   "notes_" + device: pa.table({"k": [device]})})
"""


def test_two_processes_committing_different_devices_both_land(tmp_path):
    roots = [tmp_path / f"wh{trial}" for trial in range(10)]
    for root in roots:
        Warehouse(root).commit({"latency": rows("base", [9.0])})
    start = time.time() + 8  # after both interpreters have started
    writers = [subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, device, str(start),
                                 *map(str, roots)]) for device in ("dev_a", "dev_b")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    for root in roots:
        wh = Warehouse(root)
        wh.check()
        devices = sorted(set(wh.read("latency")["device_id"].to_pylist()))
        assert devices == ["base", "dev_a", "dev_b"]
        assert {"notes_dev_a", "notes_dev_b"} <= set(wh.manifest())


def test_a_writer_whose_table_changed_under_it_is_refused_not_lost(tmp_path):
    first, second = Warehouse(tmp_path), Warehouse(tmp_path)
    first.commit({"latency": rows("a", [1.0])})
    stale = second.read("latency")
    first.commit({"latency": replace_rows(first.read("latency"), rows("b", [2.0]),
                                          ["device_id", "arch_id"])})
    with pytest.raises(WarehouseConflict, match="run the command again"):
        second.commit({"latency": replace_rows(stale, rows("c", [3.0]),
                                               ["device_id", "arch_id"])})
    assert sorted(set(Warehouse(tmp_path).read("latency")["device_id"].to_pylist())) == ["a", "b"]


def test_a_reader_of_the_previous_manifest_still_finds_its_files(tmp_path):
    wh = small_warehouse(tmp_path)
    old = wh.table_dir("latency")
    for value in (5.0, 6.0):
        Warehouse(tmp_path).commit({"latency": rows("d1", [value])})
    assert old.is_dir() and any(old.rglob("*.parquet"))  # within the grace period


# --- kill points -----------------------------------------------------------------------------


KILL_SCRIPT = """
import os, signal, sys
import pyarrow as pa
from oneproxy.warehouse import atomic, store
point = sys.argv[2]
def die(*_a, **_k):
    os.kill(os.getpid(), signal.SIGKILL)
if point == "before-manifest":
    store.Warehouse._write_manifest = die
else:
    atomic.os.replace = die
store.Warehouse(sys.argv[1]).commit({"notes": pa.table({"k": ["z"], "v": [9.0]})})
"""


@pytest.mark.parametrize("point", ["before-manifest", "manifest-rename"])
def test_kill_9_at_a_commit_point_leaves_the_previous_warehouse(tmp_path, point):
    wh = small_warehouse(tmp_path / "wh")
    before = data_files(wh.root)
    done = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(wh.root), point], timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert data_files(wh.root).keys() - before.keys()  # the killed writer left its temp files
    assert Warehouse(wh.root).read("notes")["v"].to_pylist() == [1.0, 2.0, 3.0]
    Warehouse(wh.root).commit({"other": notes()})  # the next commit cleans up
    leftovers = [p for p in wh.root.rglob(".*") if p.name not in (".write.lock", ".verified.json")]
    assert leftovers == []
    assert total(Warehouse(wh.root)) == 7.0


# --- full disk -------------------------------------------------------------------------------


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_a_commit_is_one_line_and_changes_nothing(tmp_path, monkeypatch):
    wh = small_warehouse(tmp_path)
    before = data_files(tmp_path)
    monkeypatch.setattr("oneproxy.warehouse.store.pq.write_table", _enospc)
    with pytest.raises(DiskFull, match="no space left") as info:
        wh.commit({"notes": pa.table({"k": ["x"], "v": [0.0]})})
    assert "\n" not in str(info.value)
    assert data_files(tmp_path) == before


@pytest.mark.parametrize("fmt", ["csv", "json", "table", "parquet"])
def test_a_failed_export_keeps_the_previous_file(tmp_path, monkeypatch, fmt):
    wh = small_warehouse(tmp_path / "wh")
    target = tmp_path / "out.dat"
    target.write_text("previous\n")
    catalog.ensure_catalog(wh)
    monkeypatch.setattr(atomic.os, "replace", _enospc)
    result = cli("sql", "SELECT * FROM notes", "--format", fmt, "-o", str(target),
                 "--warehouse", str(wh.root))
    assert_one_line_error(result, "no space left", str(target))
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.dat", "wh"]  # no temp file left


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_writing_to_dev_full_fails_cleanly_and_never_deletes_it(tmp_path, fmt):
    wh = small_warehouse(tmp_path / "wh")
    result = cli("sql", "SELECT * FROM notes", "--format", fmt, "-o", "/dev/full",
                 "--warehouse", str(wh.root))
    assert_one_line_error(result, "no space left")
    assert Path("/dev/full").exists() and not Path("/dev/full").is_file()


# --- damaged files ---------------------------------------------------------------------------


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _partition(wh: Warehouse) -> Path:
    return wh.table_dir("latency") / "space_id=nb201" / "part-0.parquet"


DAMAGE = {
    "flip-partition": lambda wh: _flip(_partition(wh)),
    "truncate-partition": lambda wh: _truncate(_partition(wh)),
    "delete-partition": lambda wh: shutil.rmtree(_partition(wh).parent),
    "delete-version": lambda wh: shutil.rmtree(wh.table_dir("latency")),
    "flip-plain-table": lambda wh: _flip(wh.table_dir("notes") / "part-0.parquet"),
    "extra-file": lambda wh: (wh.table_dir("latency") / "space_id=zz").mkdir()
    or (wh.table_dir("latency") / "space_id=zz" / "x.parquet").write_bytes(
        _partition(wh).read_bytes()),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_detected_by_every_reader_and_repaired_by_the_next_commit(tmp_path, damage):
    wh = small_warehouse(tmp_path)
    assert total(wh) == 7.0
    DAMAGE[damage](wh)
    for sql in ("SELECT sum(latency_ms) FROM latency", "SELECT count(*) FROM notes"):
        assert_one_line_error(cli("sql", sql, "--warehouse", str(tmp_path)), "damaged")
    assert_one_line_error(_last_line(cli("verify", "--warehouse", str(tmp_path))), "damaged")
    with pytest.raises(WarehouseDamaged):
        Warehouse(tmp_path).check()
    small_warehouse(tmp_path)  # an ingest of the same sources writes the damaged version anew
    Warehouse(tmp_path).check()
    assert total(Warehouse(tmp_path)) == 7.0
    assert Warehouse(tmp_path).read("notes").equals(notes())


class _Result:
    def __init__(self, exit_code: int, output: str):
        self.exit_code, self.output = exit_code, output


def _last_line(result) -> _Result:
    """`verify` prints its table and one error line: keep that line."""
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    return _Result(result.exit_code, "\n".join(errors))


CATALOG_DAMAGE = {
    "garbage": lambda p: p.write_bytes(b"\x00garbage" * 1000),
    "truncated": _truncate,
    "a-folder": lambda p: (p.unlink(), p.mkdir(), (p / "x").write_text("x")),
    "deleted": lambda p: p.unlink(),
}


@pytest.mark.parametrize("damage", sorted(CATALOG_DAMAGE))
def test_a_damaged_catalog_is_rebuilt(tmp_path, damage):
    wh = small_warehouse(tmp_path)
    path = catalog.ensure_catalog(wh)
    CATALOG_DAMAGE[damage](path)
    result = cli("sql", "SELECT sum(latency_ms) AS s FROM latency", "--format", "csv",
                 "--warehouse", str(tmp_path))
    assert result.exit_code == 0 and result.output.split() == ["s", "7.0"]
    assert catalog.catalog_state(wh) == "current"


@pytest.mark.parametrize("text", ["garbage{", '{"format": 99, "tables": {}}', '["x"]',
                                  '{"format": 2, "tables": {"latency": "../../etc"}}'])
def test_a_damaged_manifest_is_one_line_and_recovered_by_the_next_writer(tmp_path, text):
    wh = small_warehouse(tmp_path)
    wh.manifest_path.write_text(text)
    assert_one_line_error(cli("sql", "SELECT 1", "--warehouse", str(tmp_path)), "manifest.json")
    Warehouse(tmp_path).commit({"other": notes()})
    assert total(Warehouse(tmp_path)) == 7.0
    assert Warehouse(tmp_path).read("notes").equals(notes())


def test_a_deleted_manifest_drops_nothing(tmp_path):
    wh = small_warehouse(tmp_path)
    wh.manifest_path.unlink()
    assert_one_line_error(_last_line(cli("verify", "--warehouse", str(tmp_path))), "manifest")
    result = cli("verify", "--repair", "--warehouse", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert set(Warehouse(tmp_path).manifest()) == {"latency", "notes"}
    assert total(Warehouse(tmp_path)) == 7.0


def test_a_read_only_warehouse_is_queryable(tmp_path, monkeypatch):
    wh = small_warehouse(tmp_path / "wh")
    before = data_files(wh.root)
    monkeypatch.setattr(catalog.os, "access", lambda *_a: False)
    assert total(wh) == 7.0
    assert data_files(wh.root) == before
    assert catalog.catalog_path(wh).parent != wh.root


# --- forged pickles and archives through the CLI ----------------------------------------------


FORGED_NDARRAY = (b"\x80\x03cnumpy\nndarray\nK\x01\x85cnumpy\ndtype\nX\x01\x00\x00\x00O\x85R"
                  b"C\x08AAAAAAAA\x87R.")


def _stride_zero_archive() -> bytes:
    storage = (b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000"
               b"X\x03\x00\x00\x00cpuJ\x01\x00\x00\x00tQ")
    body = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"J\x00\x00\x00\x00"
            b"(J\x50\xc3\x00\x00J\x50\xc3\x00\x00t(J\x00\x00\x00\x00J\x00\x00\x00\x00t\x89"
            b"ccollections\nOrderedDict\n)RtR.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a/data.pkl", body)
        archive.writestr("a/data/0", np.zeros(1, "<f4").tobytes())
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a/data.pkl", pickle.dumps([1.0], protocol=2))
        archive.writestr("a/data/0", b"\0" * (300 << 20))
    return buffer.getvalue()


@pytest.mark.parametrize("make", [lambda: FORGED_NDARRAY, _stride_zero_archive, _zip_bomb],
                         ids=["object-ndarray", "stride-zero-view", "zip-bomb"])
def test_forged_files_through_ingest_hwnasbench_are_refused(tmp_path, make):
    forged = tmp_path / "forged.pickle"
    forged.write_bytes(make())
    wh = small_warehouse(tmp_path / "wh")
    before = data_files(wh.root)
    code = ("import sys; from oneproxy.cli import main; "
            "sys.argv = ['oneproxy'] + sys.argv[1:]; main()")
    done = subprocess.run([sys.executable, "-c", code, "ingest", "hwnasbench", "--path",
                           str(forged), "--warehouse", str(wh.root)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # not 139: nothing crashed
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert "forged.pickle" in message and len(message) < MAX_MESSAGE
    assert data_files(wh.root) == before


# --- SQL escapes -----------------------------------------------------------------------------


SQL_ESCAPES = {
    "explain-analyze-copy": ("EXPLAIN ANALYZE COPY (SELECT 'owned' AS x) TO '{root}/manifest.json'"
                             " (FORMAT csv, HEADER false)", "COPY"),
    "copy-partition": ("COPY (SELECT * FROM latency) TO '{part}' (FORMAT parquet)", "COPY"),
    "set": ("SET threads = 1", "SET"),
    "create-temp": ("CREATE TEMP TABLE t AS SELECT 1", "CREATE"),
    "install": ("INSTALL httpfs", "INSTALL"),
    "load": ("LOAD '/tmp/x.duckdb_extension'", "LOAD"),
    "attach": ("ATTACH '{root}/other.db'", "ATTACH"),
    "pragma": ("PRAGMA enable_profiling", "PRAGMA"),
    "two-statements": ("SELECT 1; SELECT 2", "one statement per call"),
    "read-text": ("SELECT * FROM read_text('/etc/shadow')", "disabled"),
    "read-csv": ("SELECT * FROM read_csv('/etc/passwd')", "disabled"),
    "glob": ("SELECT * FROM glob('/root/**')", "disabled"),
    "explain-of-copy": ("EXPLAIN COPY latency TO '{root}/x.csv'", "COPY"),
}


@pytest.mark.parametrize("case", sorted(SQL_ESCAPES))
def test_sql_escapes_are_refused_and_write_nothing(tmp_path, case):
    wh = small_warehouse(tmp_path / "wh")
    catalog.ensure_catalog(wh)
    before = data_files(wh.root)
    sql, needle = SQL_ESCAPES[case]
    text = sql.format(root=wh.root, part=_partition(wh))
    assert_one_line_error(cli("sql", text, "--warehouse", str(wh.root)), needle)
    assert data_files(wh.root) == before
    assert total(wh) == 7.0


def test_a_runaway_query_is_interrupted_and_a_huge_result_capped(tmp_path):
    wh = small_warehouse(tmp_path / "wh")
    endless = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
               "SELECT count(*) FROM r")
    start = time.monotonic()
    assert_one_line_error(cli("sql", endless, "--timeout", "1", "--warehouse", str(wh.root)),
                          "timeout")
    assert time.monotonic() - start < 30
    assert_one_line_error(cli("sql", "SELECT * FROM range(100)", "--max-rows", "10",
                              "--warehouse", str(wh.root)), "more than 10 rows")


def test_allow_files_restores_file_functions(tmp_path):
    wh = small_warehouse(tmp_path / "wh")
    outside = tmp_path / "mine.csv"
    outside.write_text("a\n41\n")
    sql = f"SELECT a + 1 AS b FROM read_csv('{outside}')"
    assert_one_line_error(cli("sql", sql, "--warehouse", str(wh.root)), "disabled")
    result = cli("sql", sql, "--allow-files", "--format", "csv", "--warehouse", str(wh.root))
    assert result.exit_code == 0 and result.output.split() == ["b", "42"]


def test_explain_analyze_of_a_select_still_runs(tmp_path):
    wh = small_warehouse(tmp_path / "wh")
    result = cli("sql", "EXPLAIN ANALYZE SELECT count(*) FROM latency", "--warehouse",
                 str(wh.root))
    assert result.exit_code == 0, result.output


# --- tampered model files --------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel_model(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    X = rng.random((200, 6))
    model = KernelLatencyPredictor(n_estimators=5)
    model.fit(X, 1.0 + X[:, 0], space="nb201", device="toy", encoding="onehot")
    path = tmp_path_factory.mktemp("kernel") / "m.lgb.txt"
    save_predictor(path, model, describe(model, dataset="cifar10", arch_ids=np.arange(200),
                                         columns=[f"c{i}" for i in range(6)]))
    return path


def _tamper(source: Path, target: Path, edit) -> Path:
    """Copy a kernel model, edit its text, and update the sidecar's sha256 to match."""
    text = edit(source.read_text())
    target.write_text(text)
    meta = json.loads(Path(f"{source}.json").read_text())
    meta["model_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    Path(f"{target}.json").write_text(json.dumps(meta))
    return target


def _first(pattern: str, new: str):
    return lambda text: text.replace(pattern, new, 1)


TAMPER = {
    "truncated": lambda text: text[: len(text) // 2],
    "num-class-1000": _first("num_class=1", "num_class=1000"),
    "feature-out-of-range": _first("split_feature=", "split_feature=999 "),
    "tree-sizes-lie": _first("tree_sizes=", "tree_sizes=1 "),
}


def _cycle(text: str) -> str:
    """Point the last internal node's left child at the root."""
    lines = text.splitlines(keepends=True)
    i = next(n for n, line in enumerate(lines) if line.startswith("left_child="))
    values = lines[i].removeprefix("left_child=").split()
    values[-1] = "0"
    lines[i] = "left_child=" + " ".join(values) + "\n"
    return "".join(lines)


TAMPER["child-points-at-root"] = _cycle

@pytest.mark.parametrize("case", sorted(TAMPER))
def test_a_tampered_lightgbm_model_is_refused_before_lightgbm_parses_it(kernel_model, tmp_path,
                                                                        case):
    path = _tamper(kernel_model, tmp_path / "m.lgb.txt", TAMPER[case])
    code = textwrap.dedent(f"""
        from oneproxy.analytics.predictors.files import PredictorFileError, load_predictor
        try:
            load_predictor({str(path)!r})
        except PredictorFileError as exc:
            print(exc)
            raise SystemExit(3)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)  # a hang or a segfault fails here, not the suite
    assert done.returncode == 3, (done.returncode, done.stderr[-500:])
    assert str(path) in done.stdout and len(done.stdout.strip().splitlines()) == 1


def test_an_untouched_model_still_loads(kernel_model):
    predictor, _ = load_predictor(kernel_model)
    assert predictor.predict(np.zeros((1, 6))).shape == (1,)


def test_an_edited_linear_model_is_refused(tmp_path):
    X = np.random.default_rng(1).random((50, 4))
    model = LinearLatencyPredictor(alpha=0.5)
    model.fit(X, 1.0 + X[:, 0], space="nb201", device="toy", encoding="onehot")
    path = tmp_path / "m.json"
    save_predictor(path, model, describe(model, dataset="cifar10", arch_ids=np.arange(50),
                                         columns=[f"c{i}" for i in range(4)]))
    doc = json.loads(path.read_text())
    doc["coef"][0] += 1.0
    path.write_text(json.dumps(doc))
    with pytest.raises(PredictorFileError, match="content_sha256"):
        load_predictor(path)



# --- the same attacks on the real warehouse ----------------------------------------------------


@pytest.mark.integration
def test_a_flipped_byte_in_the_real_warehouse_is_found_and_repaired(warehouse, mirror):
    counts = "SELECT count(*) AS n, round(sum(latency_ms), 3) AS s FROM latency"
    expected = query(warehouse, counts).to_pylist()
    _flip(_partition(warehouse))
    result = cli("sql", counts, "--warehouse", str(warehouse.root))
    assert_one_line_error(result, "damaged", "space_id=nb201")
    repaired = CliRunner().invoke(main, ["verify", "--repair", "--warehouse", str(warehouse.root)],
                                  env={"ONEPROXY_MIRROR": str(mirror)}, catch_exceptions=False)
    assert repaired.exit_code == 0, repaired.output
    Warehouse(warehouse.root).check()
    assert query(Warehouse(warehouse.root), counts).to_pylist() == expected


@pytest.mark.integration
def test_two_concurrent_ingest_table_runs_both_land(warehouse, mirror, tmp_path):
    code = "import sys; from oneproxy.cli import main; sys.argv[0] = 'oneproxy'; main()"
    procs = []
    for device in ("my_dev_a", "my_dev_b"):
        csv = tmp_path / f"{device}.csv"
        csv.write_text("arch_id,latency_ms\n" + "".join(f"{i},{1 + i / 10}\n" for i in range(30)))
        procs.append(subprocess.Popen(
            [sys.executable, "-c", code, "ingest", "table", str(csv), "--space", "nb201",
             "--device", device, "--warehouse", str(warehouse.root)],
            env={**os.environ, "ONEPROXY_MIRROR": str(mirror)}, stderr=subprocess.PIPE, text=True))
    assert [p.wait(timeout=300) for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    rows = query(Warehouse(warehouse.root), "SELECT device_id, count(*) AS n FROM latency WHERE "
                 "device_id LIKE 'my_dev_%' GROUP BY 1 ORDER BY 1").to_pylist()
    assert rows == [{"device_id": "my_dev_a", "n": 30}, {"device_id": "my_dev_b", "n": 30}]
    Warehouse(warehouse.root).check()


@pytest.mark.integration
def test_a_forged_eagle_file_is_refused_through_the_cli(warehouse, mirror, tmp_path):
    folder = tmp_path / "eagle"
    folder.mkdir()
    (folder / "forged.pkl").write_bytes(FORGED_NDARRAY)
    before = data_files(warehouse.root)
    result = CliRunner().invoke(main, ["ingest", "eagle", "--path", str(folder), "--warehouse",
                                       str(warehouse.root)],
                                env={"ONEPROXY_MIRROR": str(mirror)}, catch_exceptions=False)
    assert_one_line_error(_last_line(result), "forged.pkl", "refused")
    assert data_files(warehouse.root) == before
