"""Built-in evaluation protocols and the loader of user protocol files (TOML / JSON)."""

import json

import pytest
from oneproxy.analytics.protocols import (
    BUILTIN,
    InvalidProtocol,
    UnknownProtocol,
    get_protocol,
    load_protocol,
    with_overrides,
)

GOOD = """
space = "nb201"
proxies = ["pixel3", "fpga"]
targets = ["raspi4", "eyeriss"]
samples = [10, 20]
seeds = 25
proxy_mode = "auto"
strategy = "linear"
reference = true
published_samples = 20

[published]
raspi4 = 0.89
"""


def write(tmp_path, text: str, name: str = "mine.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtin_protocols():
    assert list(BUILTIN)[:3] == ["oneproxy-nb201", "help-nb201", "help-fbnet"]
    assert {"mobile-nas", "accel-fpga"} <= set(BUILTIN)
    mobile = BUILTIN["mobile-nas"]
    assert mobile.space == "mobile_nas" and mobile.proxies == ("mmb_tflite_pixel4_1large_float",)
    assert BUILTIN["accel-fpga"].targets == ("anb_vck190",)
    one = BUILTIN["oneproxy-nb201"]
    assert one.proxies == ("nnmeter_myriadvpu",) and one.proxy_mode == "fixed"
    assert len(one.targets) == 17 and one.common_archs and one.samples == (10, 20, 60)
    helpp = BUILTIN["help-nb201"]
    assert helpp.reference and helpp.proxy_mode == "auto" and len(helpp.proxies) == 9
    assert helpp.samples == (5, 10, 20) and helpp.published_samples == 20
    assert helpp.published["pixel2"] == 0.802 and helpp.published_mean == 0.932
    fb = BUILTIN["help-fbnet"]
    assert fb.space == "fbnet" and "1080ti_64" in fb.proxies and fb.published_mean == 0.910
    assert all(p.seeds >= 20 for p in BUILTIN.values())


def test_good_toml_file(tmp_path):
    p = get_protocol(write(tmp_path, GOOD))
    assert p.name == "mine" and p.space == "nb201"
    assert p.proxies == ("pixel3", "fpga") and p.targets == ("raspi4", "eyeriss")
    assert p.samples == (10, 20) and p.seeds == 25 and p.strategy == "linear" and p.reference
    assert p.published == {"raspi4": 0.89}
    assert p.published_samples == 20


def test_json_file_with_a_name(tmp_path):
    body = {"name": "j", "space": "nb201", "proxies": ["pixel3"], "targets": ["fpga"],
            "samples": [5], "proxy_mode": "fixed"}
    p = load_protocol(write(tmp_path, json.dumps(body), "x.json"))
    assert p.name == "j" and p.proxy_mode == "fixed" and p.seeds == 20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n" + GOOD, "unknown key 'colour'"),
        (GOOD.replace("samples = [10, 20]", "samples = [2, 20]"), "'samples' must be"),
        (GOOD.replace("samples = [10, 20]", "samples = [10, 'x']"), "'samples' must be"),
        (GOOD.replace("samples = [10, 20]", "samples = []"), "'samples' must be"),
        (GOOD.replace("samples = [10, 20]", "samples = [10, 10]"), "repeats a value"),
        (GOOD.replace("samples = [10, 20]", "samples = 10"), "'samples' must be a list"),
        (GOOD.replace("seeds = 25", "seeds = 0"), "'seeds' must be an integer ≥ 1"),
        (GOOD.replace('"auto"', '"best"'), "'proxy_mode' must be one of fixed, auto"),
        (GOOD.replace('"linear"', '"magic"'), "'strategy' must be one of auto, linear"),
        (GOOD.replace("reference = true", "reference = 1"), "'reference' must be true or false"),
        (GOOD.replace('proxy_mode = "auto"', 'proxy_mode = "fixed"'), "exactly one proxy"),
        (GOOD.replace("raspi4 = 0.89", "pixel2 = 0.89"), "'pixel2', which is not a target"),
        (GOOD.replace("raspi4 = 0.89", "raspi4 = 1.5"), "must be a number in [-1, 1]"),
        (GOOD.replace('space = "nb201"\n', ""), "missing key 'space'"),
        (GOOD.replace('targets = ["raspi4", "eyeriss"]', "targets = []"), "'targets' must be"),
        ("space = ", "not valid TOML"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(InvalidProtocol) as err:
        load_protocol(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_unknown_names_and_missing_files(tmp_path):
    with pytest.raises(UnknownProtocol, match="use one of oneproxy-nb201, help-nb201"):
        get_protocol("help-nb999")
    with pytest.raises(UnknownProtocol, match="does not exist"):
        get_protocol(tmp_path / "none.toml")


def test_overrides_are_validated():
    p = with_overrides(BUILTIN["help-nb201"], samples=(20,), seeds=3, strategy="linear")
    assert (p.samples, p.seeds, p.strategy) == ((20,), 3, "linear")
    assert with_overrides(p) == p
    with pytest.raises(InvalidProtocol, match="'samples' must be"):
        with_overrides(p, samples=(1,))
