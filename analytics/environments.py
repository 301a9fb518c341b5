"""How monotone latency is across mobile inference environments: which attribute a pair differs in.

A mobile-ml-benchmark environment is framework × phone × core configuration × precision
(`warehouse.devices.mobile_environment`). A pair of environments that differ in exactly one of
them isolates that attribute's effect on the latency ranking; a CPU configuration against the
GPU is its own kind (``cpu_vs_gpu``), apart from two CPU configurations (``cores``).
"""

from __future__ import annotations

import polars as pl
from oneproxy.warehouse.devices import MOBILE_FRAMEWORKS, MOBILE_PHONES, mobile_environment

THRESHOLD = 0.9
KINDS = ("framework", "phone", "cores", "cpu_vs_gpu", "precision")
GROUPINGS = ("platform", "phone", "framework")
_FIELDS = ("framework", "phone", "cores", "precision")


def _kind(a: str, b: str) -> str | None:
    ea, eb = mobile_environment(a), mobile_environment(b)
    if ea is None or eb is None:
        return None
    differs = [f for f, x, y in zip(_FIELDS, ea, eb, strict=True) if x != y]
    if len(differs) != 1:
        return "several" if differs else None
    if differs[0] == "cores" and "gpu" in (ea[2], eb[2]):
        return "cpu_vs_gpu"
    return differs[0]


def pair_kinds(pairs: pl.DataFrame) -> pl.DataFrame:
    """`pairs` (device_a, device_b, value, …) with a ``differs`` column: the one attribute the
    two environments differ in, ``several``, or null when either is not a mobile environment."""
    kinds = [_kind(a, b) for a, b in zip(pairs["device_a"], pairs["device_b"], strict=True)]
    return pairs.with_columns(pl.Series("differs", kinds, dtype=pl.Utf8))


def environment_summary(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per kind of pair: how many, mean / median / min SRCC, share at or above `THRESHOLD`."""
    kinds = pair_kinds(pairs).filter(pl.col("differs").is_in(KINDS)
                                     & pl.col("value").is_not_null())
    order = pl.DataFrame({"differs": list(KINDS), "_order": range(len(KINDS))})
    return (kinds.group_by("differs").agg(
        pl.len().alias("pairs"), pl.col("value").mean().alias("mean"),
        pl.col("value").median().alias("median"), pl.col("value").min().alias("min"),
        (pl.col("value") >= THRESHOLD).mean().alias("share_at_least_threshold"),
    ).join(order, on="differs").sort("_order").drop("_order"))


def findings(summary: pl.DataFrame) -> list[str]:
    """A few sentences, with numbers, comparing the kinds of `environment_summary`."""
    rows = {r["differs"]: r for r in summary.iter_rows(named=True)}
    label = {"framework": "TFLite vs PyTorch Mobile on the same phone, cores and precision",
             "phone": "two phones on the same framework, cores and precision",
             "cores": "two CPU core configurations of one phone and framework",
             "cpu_vs_gpu": "a CPU configuration vs the GPU of one phone and framework",
             "precision": "float vs quantized on the same phone, framework and cores"}
    out = [f"{label[k]}: median SRCC {r['median']:.3f} (mean {r['mean']:.3f}, min "
           f"{r['min']:.3f}, {100 * r['share_at_least_threshold']:.0f}% of {r['pairs']} pairs "
           f"at or above {THRESHOLD})" for k, r in rows.items()]
    if "framework" in rows and "phone" in rows:
        fw, ph = rows["framework"]["median"], rows["phone"]["median"]
        more = "more" if fw > ph else "less"
        out.append(f"Switching the framework on one phone is {more} monotone than switching the "
                   f"phone on one framework (median {fw:.3f} vs {ph:.3f}).")
    if rows:
        worst = min(rows.values(), key=lambda r: r["median"])
        out.append(f"The least monotone change is {label[worst['differs']]} (median "
                   f"{worst['median']:.3f}).")
    return out


def heatmap_groups(devices: list[str], platform: dict[str, str], by: str) -> dict[str, str]:
    """The heatmap group of each device: its platform class, or for mobile environments its
    phone or framework (other devices keep their platform class)."""
    if by not in GROUPINGS:
        raise ValueError(f"group by one of {', '.join(GROUPINGS)}, got {by!r}")
    if by == "platform":
        return dict(platform)
    groups = dict(platform)
    for device in devices:
        env = mobile_environment(device)
        if env is not None:
            framework, phone = env[0], env[1]
            groups[device] = (MOBILE_PHONES[phone][0] if by == "phone"
                              else MOBILE_FRAMEWORKS[framework])
    return groups
