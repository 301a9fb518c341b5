"""Evaluation protocols of AdaProxy: built-in ones from the papers, and user ones from TOML / JSON.

A protocol names a space, the proxy devices, the target devices, the sample counts n and the
number of seeds, whether the proxy is fixed or chosen per target and seed ("auto"), the
adaptation strategy, and whether HELP's reference architectures count among the n samples.

A protocol file holds the same keys as `Protocol` (TOML with `tomllib`, or JSON)::

    space = "nb201"
    proxies = ["pixel3"]
    targets = ["raspi4", "fpga"]
    samples = [10, 20]
    seeds = 20
    proxy_mode = "fixed"        # or "auto": choose among `proxies` per target and seed
    strategy = "auto"           # or one of analytics.adaptation.STRATEGIES
    reference = false           # true: HELP's reference architectures are part of the n
    common_archs = false        # true: restrict every series to the architectures all have
    split = "all"               # or "help": HELP's loader split (train_rows, query_rows below)
    train_rows = 900            # split "help": the first rows, HELP's meta-training / sample pool
    query_rows = 1000           # split "help": the next rows, HELP's scoring set
    score_on = "held_out"       # or "all": score every measured architecture, samples included
    validation = 0              # how many of the n the paper calls validation samples (labels)
    first_seed = 0              # seeds first_seed … first_seed + seeds - 1
    [published]                 # optional: SRCC published for these targets at published_samples
    raspi4 = 0.890
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

from oneproxy.warehouse.errors import OneproxyError

PROXY_MODES = ("fixed", "auto")
SPLITS = ("all", "help")
SCORE_ON = ("held_out", "all")
MIN_SAMPLES = 3
HELP_SOURCE = "HELP (Lee et al., NeurIPS 2021), Table 2 / Table 3: 10 samples + 10 reference"


@cache
def strategy_choices() -> tuple[str, ...]:
    """"auto" and every strategy of `analytics.adaptation.STRATEGIES`, imported on first use:
    reading a protocol (as every `oneproxy run` does) does not load the predictors."""
    from oneproxy.analytics.adaptation import STRATEGIES

    return ("auto", *STRATEGIES)


def __getattr__(name: str) -> Any:
    """`STRATEGY_CHOICES` (= `strategy_choices()`), resolved when it is first read."""
    if name == "STRATEGY_CHOICES":
        return strategy_choices()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class InvalidProtocol(OneproxyError):
    """A protocol definition with an unknown key, a missing key or a bad value."""


class UnknownProtocol(OneproxyError):
    """A protocol name that is neither built in nor a readable file."""


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol: every target × n × seed is adapted and scored."""

    name: str
    space: str
    proxies: tuple[str, ...]
    targets: tuple[str, ...]
    samples: tuple[int, ...]
    seeds: int = 20
    proxy_mode: str = "auto"
    strategy: str = "auto"
    reference: bool = False
    common_archs: bool = False
    dataset: str | None = None  # latency dataset; None = the space's only one
    description: str = ""
    published: dict[str, float] = field(default_factory=dict)  # target -> SRCC
    published_mean: float | None = None
    published_samples: int | None = None  # the n at which `published` applies
    published_source: str = ""
    # How the paper splits and scores (see `analytics.splits`); the defaults are oneproxy's own.
    split: str = "all"
    train_rows: int | None = None
    query_rows: int | None = None
    score_on: str = "held_out"
    validation: int = 0
    first_seed: int = 0  # seeds first_seed … first_seed + seeds − 1 (tuning runs use others)

    def __post_init__(self) -> None:
        _validate(self)


_REQUIRED = ("space", "proxies", "targets", "samples")
_KEYS = tuple(f.name for f in fields(Protocol))

def get_protocol(spec: str | Path) -> Protocol:
    """A built-in protocol by name, or the protocol defined by a .toml / .json file."""
    if str(spec) in BUILTIN:
        return BUILTIN[str(spec)]
    path = Path(spec)
    if path.suffix.lower() not in (".toml", ".json"):
        raise UnknownProtocol(
            f"unknown protocol '{spec}': use one of {', '.join(BUILTIN)} or a .toml / .json file"
        )
    if not path.is_file():
        raise UnknownProtocol(f"protocol file {path} does not exist")
    return load_protocol(path)


def load_protocol(path: Path) -> Protocol:
    """The protocol a TOML or JSON file defines; its name defaults to the file's stem."""
    text = path.read_text()
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidProtocol(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidProtocol(f"{path}: expected a table of keys, got {type(raw).__name__}")
    return protocol_from_dict(raw, default_name=path.stem, where=str(path))


def protocol_from_dict(raw: dict[str, Any], *, default_name: str, where: str) -> Protocol:
    """A protocol from parsed keys; errors name `where` (the file) and the key."""
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise InvalidProtocol(
            f"{where}: unknown key '{unknown[0]}': the keys are {', '.join(_KEYS)}"
        )
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise InvalidProtocol(f"{where}: missing key '{missing[0]}'")
    values = {"name": default_name, **raw}
    for key in ("proxies", "targets", "samples"):
        if not isinstance(values[key], list):
            raise InvalidProtocol(
                f"{where}: '{key}' must be a list, got {values[key]!r}"
            )
        values[key] = tuple(values[key])
    try:
        return Protocol(**values)
    except InvalidProtocol as exc:
        raise InvalidProtocol(f"{where}: {exc}") from None


def with_overrides(
    protocol: Protocol,
    samples: tuple[int, ...] | None = None,
    seeds: int | None = None,
    strategy: str | None = None,
    first_seed: int | None = None,
) -> Protocol:
    """The protocol with the sample counts, seed count, strategy or first seed replaced
    (validated)."""
    changes = {k: v for k, v in (("samples", samples), ("seeds", seeds), ("strategy", strategy),
                                 ("first_seed", first_seed)) if v is not None}
    return replace(protocol, **changes)


def _validate(p: Protocol) -> None:
    for key in ("name", "space", "description", "published_source"):
        if not isinstance(getattr(p, key), str):
            raise InvalidProtocol(f"'{key}' must be text, got {getattr(p, key)!r}")
    if not p.name or not p.space:
        raise InvalidProtocol("'name' and 'space' must not be empty")
    for key in ("proxies", "targets"):
        names = getattr(p, key)
        if not names or not all(isinstance(d, str) and d for d in names):
            raise InvalidProtocol(f"'{key}' must be a non-empty list of device ids, got {names!r}")
        if len(set(names)) != len(names):
            raise InvalidProtocol(f"'{key}' lists a device twice: {list(names)}")
    if not p.samples or not all(_is_int(n) and n >= MIN_SAMPLES for n in p.samples):
        raise InvalidProtocol(
            f"'samples' must be a non-empty list of integers ≥ {MIN_SAMPLES} (the leave-one-out "
            f"choice needs {MIN_SAMPLES} measurements), got {list(p.samples)}"
        )
    if len(set(p.samples)) != len(p.samples):
        raise InvalidProtocol(f"'samples' repeats a value: {list(p.samples)}")
    if not _is_int(p.seeds) or p.seeds < 1:
        raise InvalidProtocol(f"'seeds' must be an integer ≥ 1 (seeds 0…seeds-1), got {p.seeds!r}")
    if not _is_int(p.first_seed) or p.first_seed < 0:
        raise InvalidProtocol(f"'first_seed' must be an integer ≥ 0, got {p.first_seed!r}")
    if p.proxy_mode not in PROXY_MODES:
        raise InvalidProtocol(
            f"'proxy_mode' must be one of {', '.join(PROXY_MODES)}, got {p.proxy_mode!r}"
        )
    if p.proxy_mode == "fixed":
        if len(p.proxies) != 1:
            raise InvalidProtocol(
                f"proxy_mode 'fixed' takes exactly one proxy, got {list(p.proxies)}: use "
                "proxy_mode = 'auto' to choose among several"
            )
        if p.proxies[0] in p.targets:
            raise InvalidProtocol(f"the fixed proxy '{p.proxies[0]}' is also a target")
    if p.strategy != "auto" and p.strategy not in strategy_choices():
        raise InvalidProtocol(
            f"'strategy' must be one of {', '.join(strategy_choices())}, got {p.strategy!r}"
        )
    for key in ("reference", "common_archs"):
        if not isinstance(getattr(p, key), bool):
            raise InvalidProtocol(f"'{key}' must be true or false, got {getattr(p, key)!r}")
    if p.dataset is not None and (not isinstance(p.dataset, str) or not p.dataset):
        raise InvalidProtocol(f"'dataset' must be a latency dataset name, got {p.dataset!r}")
    _validate_published(p)
    _validate_split(p)


def _validate_split(p: Protocol) -> None:
    if p.split not in SPLITS:
        raise InvalidProtocol(f"'split' must be one of {', '.join(SPLITS)}, got {p.split!r}")
    if p.score_on not in SCORE_ON:
        raise InvalidProtocol(
            f"'score_on' must be one of {', '.join(SCORE_ON)}, got {p.score_on!r}"
        )
    rows = (p.train_rows, p.query_rows)
    if p.split == "help" and not all(_is_int(r) and r >= 1 for r in rows):
        raise InvalidProtocol(
            "split 'help' needs 'train_rows' and 'query_rows', integers ≥ 1 (HELP's "
            f"num_meta_train_sample and num_query), got {list(rows)}"
        )
    if p.split == "all" and rows != (None, None):
        raise InvalidProtocol("'train_rows' and 'query_rows' apply to split 'help' only")
    if not _is_int(p.validation) or not 0 <= p.validation < min(p.samples):
        raise InvalidProtocol(
            f"'validation' must be an integer from 0 to below the smallest n "
            f"({min(p.samples)}), got {p.validation!r}"
        )


def sample_label(protocol: Protocol, n: int, n_reference: int = 10) -> str:
    """The column label of n samples, stated as the paper states them."""
    if protocol.validation:
        return f"n={n} ({n - protocol.validation} training + {protocol.validation} validation)"
    if protocol.reference and n == n_reference:
        return f"n={n} (the {n_reference} reference archs)"
    if protocol.reference and n > n_reference:
        return f"n={n} ({n_reference} reference + {n - n_reference} samples)"
    return f"n={n}"


def _validate_published(p: Protocol) -> None:
    if not isinstance(p.published, dict):
        raise InvalidProtocol(f"'published' must be a table of target = SRCC, got {p.published!r}")
    for target, value in p.published.items():
        if target not in p.targets:
            raise InvalidProtocol(f"'published' names '{target}', which is not a target")
        if not _is_number(value) or not -1 <= value <= 1:
            raise InvalidProtocol(
                f"'published' SRCC of '{target}' must be a number in [-1, 1], got {value!r}"
            )
    if p.published_mean is not None and not (_is_number(p.published_mean)
                                             and -1 <= p.published_mean <= 1):
        raise InvalidProtocol(f"'published_mean' must be in [-1, 1], got {p.published_mean!r}")
    if (p.published or p.published_mean is not None) and p.published_samples is None:
        raise InvalidProtocol("'published' needs 'published_samples': the n it was measured at")
    if p.published_samples is not None and (not _is_int(p.published_samples)
                                            or p.published_samples < 1):
        raise InvalidProtocol(
            f"'published_samples' must be an integer ≥ 1, got {p.published_samples!r}"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_ONEPROXY_TARGETS = (
    "pixel3", "raspi4", "eyeriss", "fpga", "edgegpu", "edgetpu", "eagle_i7", "eagle_gtx1080ti",
    "eagle_jetson_nano_fp32", "eagle_jetson_nano_fp16", "eagle_edgetpu", "eagle_sd855_cpu",
    "eagle_sd855_gpu", "eagle_sd855_dsp", "nnmeter_cortexa76", "nnmeter_adreno630",
    "nnmeter_adreno640",
)
_HELP_PROXIES = ("silver_4114", "silver_4210r", "samsung_a50", "pixel3", "essential_ph_1",
                 "samsung_s7")

BUILTIN: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            name="oneproxy-nb201",
            space="nb201",
            proxies=("nnmeter_myriadvpu",),
            targets=_ONEPROXY_TARGETS,
            samples=(10, 20, 60),
            proxy_mode="fixed",
            common_archs=True,
            description="OneProxy (Lu et al., SIGMETRICS 2022): the Myriad VPU as the one proxy "
            "for the other 17 series, on the 1,999 architectures every series measured",
        ),
        Protocol(
            name="help-nb201",
            space="nb201",
            proxies=("1080ti_1", "1080ti_32", "1080ti_256", *_HELP_PROXIES),
            targets=("titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss"),
            samples=(5, 10, 20),
            proxy_mode="auto",
            reference=True,
            description="HELP's NAS-Bench-201 meta-test devices; the 10 reference architectures "
            "count among the n samples",
            published={"titan_rtx_256": 0.987, "gold_6226": 0.989, "fpga": 0.985,
                       "pixel2": 0.802, "raspi4": 0.890, "eyeriss": 0.940},
            published_mean=0.932,
            published_samples=20,
            published_source=HELP_SOURCE,
        ),
        Protocol(
            name="help-fbnet",
            space="fbnet",
            proxies=("1080ti_1", "1080ti_32", "1080ti_64", *_HELP_PROXIES),
            targets=("fpga", "raspi4", "eyeriss"),
            samples=(5, 10, 20),
            proxy_mode="auto",
            reference=True,
            description="HELP's FBNet meta-test devices; the 10 reference architectures count "
            "among the n samples",
            published={"fpga": 0.892, "raspi4": 0.887, "eyeriss": 0.943},
            published_mean=0.910,
            published_samples=20,
            published_source=HELP_SOURCE,
        ),
        Protocol(
            name="mobile-nas",
            space="mobile_nas",
            proxies=("mmb_tflite_pixel4_1large_float",),
            targets=("mmb_torch_pixel4_1large_float", "mmb_tflite_a03s_1small_float",
                     "mmb_tflite_s10_gpu_float", "mmb_torch_iphonexs_1large_quant",
                     "mmb_tflite_mi8se_4small_quant"),
            samples=(5, 10, 20),
            proxy_mode="fixed",
            description="mobile-ml-benchmark's 1,000 synthetic CNNs: a Pixel 4 big core on "
            "TFLite as the one proxy for other frameworks, phones, cores and precisions "
            "(encodings: FLOPs and model size)",
        ),
        Protocol(
            name="accel-fpga",
            space="accel_nasbench",
            proxies=("anb_zcu102",),
            targets=("anb_vck190",),
            samples=(5, 10, 20),
            proxy_mode="fixed",
            description="Accel-NASBench: the ZCU102 FPGA as the proxy of the VCK190",
        ),
    )
}


# --- The papers' own splits -------------------------------------------------------------------
# HELP (HayeonLee/HELP at 11970ec): loader.py lines 50–62 take, per device, the first
# `num_meta_train_sample` rows as the meta-training and fine-tuning pool and the next `num_query`
# rows as the scoring set, each cut to the 10th–90th percentile of the device's own latency
# (argsort, positions int(0.1·len) to int(0.9·len)); get_task (lines 151–176) draws the
# fine-tuning samples at random from that pool (lines 161–162), scores on the query rows
# (lines 166 / 174), and measures the 10 reference architectures as the hardware embedding
# (lines 157–158). parser.py lines 37–39 set num_meta_train_sample = 900, num_samples = 10 and
# num_query = 1000; script/run_meta_test_fbnet.sh line 7 sets 4000 for FBNet, whose rows are
# in the order of HELP's architecture file (loader.py lines 93–95). HELP's published numbers
# are thus at 10 reference + 10 samples: our n = 20.
_HELP_NB201_TRAIN = ("1080ti_1", "1080ti_32", "1080ti_256", *_HELP_PROXIES)
_HELP_FBNET_TRAIN = ("1080ti_1", "1080ti_32", "1080ti_64", *_HELP_PROXIES)

PAPER_PROTOCOLS = (
    Protocol(
        name="help-nb201-paper",
        space="nb201",
        proxies=_HELP_NB201_TRAIN,
        targets=("titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss"),
        samples=(5, 10, 20),
        proxy_mode="auto",
        reference=True,
        split="help",
        train_rows=900,
        query_rows=1000,
        description="HELP's own NAS-Bench-201 split (loader.py lines 50–62): proxies fitted "
        "on their first 900 architectures cut to 10–90% latency, samples drawn from the "
        "target's such pool, SRCC on architectures 900–1899 cut to the target's 10–90% (800)",
        published=BUILTIN["help-nb201"].published,
        published_mean=BUILTIN["help-nb201"].published_mean,
        published_samples=20,
        published_source=HELP_SOURCE,
    ),
    Protocol(
        name="help-fbnet-paper",
        space="fbnet",
        proxies=_HELP_FBNET_TRAIN,
        targets=("fpga", "raspi4", "eyeriss"),
        samples=(5, 10, 20),
        proxy_mode="auto",
        reference=True,
        split="help",
        train_rows=4000,
        query_rows=1000,
        description="HELP's own FBNet split (loader.py lines 50–62, run_meta_test_fbnet.sh "
        "line 7): proxies fitted on their first 4,000 architectures (HELP's file order) cut to "
        "10–90% latency, SRCC on architectures 4000–4999 cut to the target's 10–90% (800)",
        published=BUILTIN["help-fbnet"].published,
        published_mean=BUILTIN["help-fbnet"].published_mean,
        published_samples=20,
        published_source=HELP_SOURCE,
    ),
    # OneProxy's example.ipynb (Ren-Research/OneProxy at a80cf6d), 7th cell (execution count
    # 6): random.sample of n_train_target = 60 + n_val_target = 10 of the 1,999 architectures;
    # the Solver's "SRCC all" it prints (8th cell) is over all 1,999, the 70 samples included.
    Protocol(
        name="oneproxy-notebook",
        space="nb201",
        proxies=("nnmeter_myriadvpu",),
        targets=_ONEPROXY_TARGETS,
        samples=(70,),
        proxy_mode="fixed",
        common_archs=True,
        score_on="all",
        validation=10,
        description="OneProxy's example.ipynb: the Myriad VPU adapted to each target with 60 "
        "training + 10 validation samples, SRCC over all 1,999 architectures",
    ),
)
BUILTIN.update({p.name: p for p in PAPER_PROTOCOLS})


# --- NASFLAT's few-shot tasks -----------------------------------------------------------------
# abdelfattah-lab/nasflat_latency at 0303057, correlation_trainer/device_task_list.py lines 3–78:
# per space, task index → train (source) and test (target) devices, evaluated at 5 / 10 / 20
# transfer samples drawn at random from the target (no reference set). Its device names are
# HELP's, HW-NAS-Bench's and Eagle's; `NASFLAT_DEVICES` maps the Eagle ones to ours. A task runs
# only if the warehouse holds every device it names; `NASFLAT_MISSING` says why the others do not.
NASFLAT_DEVICES = {
    "desktop_cpu_core_i7_7820x_fp32": "eagle_i7",
    "desktop_gpu_gtx_1080ti_fp32": "eagle_gtx1080ti",
    "embedded_gpu_jetson_nano_fp16": "eagle_jetson_nano_fp16",
    "embedded_gpu_jetson_nano_fp32": "eagle_jetson_nano_fp32",
    "embedded_tpu_edge_tpu_int8": "eagle_edgetpu",
    "mobile_cpu_snapdragon_855_kryo_485_int8": "eagle_sd855_cpu",
    "mobile_dsp_snapdragon_855_hexagon_690_int8": "eagle_sd855_dsp",
    "mobile_gpu_snapdragon_855_adreno_640_int8": "eagle_sd855_gpu",
}
_SD675 = ("Eagle's Snapdragon 675 series (mobile_gpu_snapdragon_675_adreno_612_int8, "
          "mobile_dsp_snapdragon_675_hexagon_685_int8) are in no pinned file: the pinned Eagle "
          "repository carries only the i7 file and OneProxy's copies cover the Snapdragon 855; "
          "`oneproxy ingest eagle --path DIR` with Eagle's other files would add them")
NASFLAT_MISSING = {
    "nasflat-nb201-1": f"train device adreno_612 missing. {_SD675}",
    "nasflat-nb201-2": f"test device hexagon_685 missing. {_SD675}",
    "nasflat-nb201-3": f"train device hexagon_685 missing. {_SD675}",
    "nasflat-nb201-4": f"train devices hexagon_685 and adreno_612 missing. {_SD675}",
}
_NASFLAT_TASKS = {
    ("nb201", 0): (_HELP_NB201_TRAIN,
                   ("titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss")),
    ("nb201", 5): (("titan_rtx_1", "titan_rtx_32", "titanxp_1", "2080ti_1", "titanx_1",
                    "1080ti_1", "titanx_32", "titanxp_32", "2080ti_32", "1080ti_32", "gold_6226",
                    "samsung_s7", "silver_4114", "gold_6240", "silver_4210r", "samsung_a50",
                    "pixel2"),
                   ("eyeriss", "eagle_gtx1080ti", "eagle_edgetpu")),
    ("fbnet", 0): (_HELP_FBNET_TRAIN, ("titanx_1", "titanx_32", "titanx_64", "gold_6240")),
    ("fbnet", 1): (("2080ti_1", "essential_ph_1", "silver_4114", "titan_rtx_1", "titan_rtx_32"),
                   ("eyeriss", "fpga", "raspi4", "samsung_a50", "samsung_s7")),
    ("fbnet", 2): (("essential_ph_1", "gold_6226", "gold_6240", "pixel3", "raspi4"),
                   ("1080ti_1", "1080ti_32", "2080ti_32", "titan_rtx_1", "titanxp_1")),
    ("fbnet", 3): (("essential_ph_1", "pixel2", "pixel3", "raspi4", "samsung_s7"),
                   ("1080ti_1", "1080ti_32", "2080ti_1", "titan_rtx_1", "titan_rtx_32")),
    ("fbnet", 4): (("1080ti_64", "2080ti_1", "eyeriss", "gold_6226", "gold_6240", "raspi4",
                    "samsung_s7", "silver_4210r", "titan_rtx_1", "titan_rtx_32"),
                   ("1080ti_1", "pixel2", "essential_ph_1")),
    ("fbnet", 5): (("1080ti_1", "1080ti_32", "1080ti_64", "2080ti_1", "2080ti_32", "2080ti_64",
                    "titan_rtx_1", "titan_rtx_32", "titan_rtx_64", "titanx_1", "titanx_32",
                    "titanx_64", "titanxp_1", "titanxp_32", "titanxp_64"),
                   ("gold_6226", "essential_ph_1", "samsung_s7", "pixel2")),
}
NASFLAT_PROTOCOLS = tuple(
    Protocol(
        name=f"nasflat-{space}-{task}",
        space=space,
        proxies=train,
        targets=test,
        samples=(5, 10, 20),
        proxy_mode="auto",
        description=f"NASFLAT's {space} task {task} (device_task_list.py): its train devices "
        "as candidate proxies, its test devices as targets, 5 / 10 / 20 random transfer "
        "samples, SRCC on every other architecture the target measured",
    )
    for (space, task), (train, test) in _NASFLAT_TASKS.items()
)
BUILTIN.update({p.name: p for p in NASFLAT_PROTOCOLS})
