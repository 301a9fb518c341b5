"""The device registry: a canonical id and metadata for every latency series we know of.

A series is named by the study that measured it, not by the file that carried it, so HW-NAS-Bench's
Pixel 3 is `pixel3` whether it arrives through HELP or through OneProxy.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import pyarrow as pa
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.schemas import DEVICES

PLATFORM_CLASSES = (
    "desktop_gpu", "desktop_cpu", "mobile_cpu", "mobile_gpu", "mobile_dsp",
    "embedded_cpu", "embedded_gpu", "edge_tpu", "vpu", "fpga", "asic", "other",
)

HELP = "HELP (Lee et al., NeurIPS 2021)"
HWNASBENCH = "HW-NAS-Bench (Li et al., ICLR 2021)"
EAGLE = "Eagle / BRP-NAS (Dudziak et al., NeurIPS 2020)"
NNMETER = "nn-Meter (Zhang et al., MobiSys 2021)"
OFA = "Once-for-All (Cai et al., ICLR 2020)"
OFA_VAI = "Once-for-All on Vitis AI (sxtyzhangzk/once-for-all)"
MOBILE_BENCH = "mobile-ml-benchmark (Li et al., EdgeSys 2024)"
ACCEL_NASBENCH = "Accel-NASBench (Ahmad et al.)"


@dataclass(frozen=True)
class Device:
    device_id: str
    display_name: str
    hardware: str
    platform_class: str
    framework: str | None
    precision: str | None
    batch_size: int | None
    origin_study: str
    resolution_ms: float | None = None
    notes: str | None = None
    cores: str | None = None


def _gpu(name: str, hardware: str, batches: tuple[int, ...]) -> list[Device]:
    return [
        Device(f"{name}_{b}", f"{hardware} (batch {b})", hardware, "desktop_gpu", "PyTorch", "fp32",
               b, HELP)
        for b in batches
    ]


def _cpu(name: str, hardware: str) -> Device:
    return Device(name, hardware, hardware, "desktop_cpu", "PyTorch", "fp32", 1, HELP)


def _phone(name: str, display: str, hardware: str) -> Device:
    return Device(name, display, hardware, "mobile_cpu", "TFLite", "fp32", 1, HELP, 1.0,
                  "reported in whole milliseconds")


def _eagle(name: str, display: str, hardware: str, platform: str, precision: str) -> Device:
    return Device(name, display, hardware, platform, None, precision, 1, EAGLE)


_HELP_GPU_BATCHES = (1, 32, 64, 256)

KNOWN_DEVICES: tuple[Device, ...] = (
    *_gpu("1080ti", "NVIDIA GTX 1080 Ti", _HELP_GPU_BATCHES),
    *_gpu("2080ti", "NVIDIA RTX 2080 Ti", _HELP_GPU_BATCHES),
    *_gpu("titanx", "NVIDIA Titan X", _HELP_GPU_BATCHES),
    *_gpu("titanxp", "NVIDIA Titan Xp", _HELP_GPU_BATCHES),
    *_gpu("titan_rtx", "NVIDIA Titan RTX", _HELP_GPU_BATCHES),
    *_gpu("v100", "NVIDIA Tesla V100", _HELP_GPU_BATCHES),
    _cpu("gold_6226", "Intel Xeon Gold 6226"),
    _cpu("gold_6240", "Intel Xeon Gold 6240"),
    _cpu("silver_4114", "Intel Xeon Silver 4114"),
    _cpu("silver_4210r", "Intel Xeon Silver 4210R"),
    _phone("samsung_a50", "Samsung Galaxy A50", "Samsung Exynos 9610"),
    _phone("samsung_s7", "Samsung Galaxy S7", "Samsung Exynos 8890"),
    _phone("pixel2", "Google Pixel 2", "Qualcomm Snapdragon 835"),
    _phone("essential_ph_1", "Essential Phone PH-1", "Qualcomm Snapdragon 835"),
    Device("pixel3", "Google Pixel 3", "Qualcomm Snapdragon 845 CPU", "mobile_cpu", "TFLite",
           "fp32", 1, HWNASBENCH),
    Device("raspi4", "Raspberry Pi 4", "Broadcom BCM2711 Cortex-A72", "embedded_cpu", "TFLite",
           "fp32", 1, HWNASBENCH),
    Device("edgegpu", "NVIDIA Jetson TX2", "NVIDIA Jetson TX2", "embedded_gpu", "PyTorch",
           "fp32", 1, HWNASBENCH),
    Device("edgetpu", "Google Edge TPU", "Google Coral Edge TPU", "edge_tpu", "TFLite",
           "int8", 1, HWNASBENCH, None, "models that did not compile are failed measurements"),
    Device("eyeriss", "Eyeriss (simulated)", "Eyeriss accelerator", "asic", "Accelergy+Timeloop",
           "int16", 1, HWNASBENCH),
    Device("fpga", "FPGA (simulated)", "Xilinx ZC706 FPGA", "fpga", "Vivado HLS", "int16", 1,
           HWNASBENCH),
    _eagle("eagle_i7", "Intel Core i7-7820X", "Intel Core i7-7820X", "desktop_cpu", "fp32"),
    _eagle("eagle_gtx1080ti", "NVIDIA GTX 1080 Ti (Eagle)", "NVIDIA GTX 1080 Ti", "desktop_gpu",
           "fp32"),
    _eagle("eagle_gtx1080ti_large", "NVIDIA GTX 1080 Ti, large batch (Eagle)",
           "NVIDIA GTX 1080 Ti", "desktop_gpu", "fp32"),
    _eagle("eagle_jetson_nano_fp16", "NVIDIA Jetson Nano fp16", "NVIDIA Jetson Nano",
           "embedded_gpu", "fp16"),
    _eagle("eagle_jetson_nano_fp32", "NVIDIA Jetson Nano fp32", "NVIDIA Jetson Nano",
           "embedded_gpu", "fp32"),
    _eagle("eagle_edgetpu", "Google Edge TPU (Eagle)", "Google Coral Edge TPU", "edge_tpu", "int8"),
    _eagle("eagle_edgetpu_large", "Google Edge TPU, large (Eagle)", "Google Coral Edge TPU",
           "edge_tpu", "int8"),
    _eagle("eagle_sd450_cpu", "Snapdragon 450 CPU", "Qualcomm Snapdragon 450 Cortex-A53",
           "mobile_cpu", "int8"),
    _eagle("eagle_sd675_cpu", "Snapdragon 675 CPU", "Qualcomm Snapdragon 675 Kryo 460",
           "mobile_cpu", "int8"),
    _eagle("eagle_sd855_cpu", "Snapdragon 855 CPU", "Qualcomm Snapdragon 855 Kryo 485",
           "mobile_cpu", "int8"),
    _eagle("eagle_sd450_gpu", "Snapdragon 450 GPU", "Qualcomm Adreno 506", "mobile_gpu", "int8"),
    _eagle("eagle_sd675_gpu", "Snapdragon 675 GPU", "Qualcomm Adreno 612", "mobile_gpu", "int8"),
    _eagle("eagle_sd855_gpu", "Snapdragon 855 GPU", "Qualcomm Adreno 640", "mobile_gpu", "int8"),
    _eagle("eagle_sd675_dsp", "Snapdragon 675 DSP", "Qualcomm Hexagon 685", "mobile_dsp", "int8"),
    _eagle("eagle_sd855_dsp", "Snapdragon 855 DSP", "Qualcomm Hexagon 690", "mobile_dsp", "int8"),
    Device("nnmeter_cortexa76", "Cortex-A76 CPU (nn-Meter)", "Arm Cortex-A76 (Pixel 4)",
           "mobile_cpu", "TFLite", "fp32", 1, NNMETER),
    Device("nnmeter_adreno630", "Adreno 630 GPU (nn-Meter)", "Qualcomm Adreno 630 (Mi 8)",
           "mobile_gpu", "TFLite", "fp32", 1, NNMETER),
    Device("nnmeter_adreno640", "Adreno 640 GPU (nn-Meter)", "Qualcomm Adreno 640 (Pixel 4)",
           "mobile_gpu", "TFLite", "fp32", 1, NNMETER),
    Device("nnmeter_myriadvpu", "Intel Myriad VPU (nn-Meter)", "Intel Movidius Myriad X",
           "vpu", "OpenVINO", "fp16", 1, NNMETER),
    Device("note10", "Samsung Galaxy Note10 (OFA lookup table)", "Qualcomm Snapdragon 855 CPU",
           "mobile_cpu", "TFLite", "fp32", 1, OFA, None, "operator lookup tables only"),
    Device("zynq_dpu", "Xilinx Zynq UltraScale+ DPU (OFA lookup table)",
           "Xilinx Zynq UltraScale+ MPSoC with a Vitis AI 1.3 DPU (PYNQ-DPU)", "fpga", "Vitis AI",
           "int8", 1, OFA_VAI, None, "operator lookup tables only"),
)

_BY_ID = {d.device_id: d for d in KNOWN_DEVICES}

EAGLE_FILE_DEVICES = {
    "desktop-cpu-core-i7-7820x-fp32": "eagle_i7",
    "desktop-gpu-gtx-1080ti-fp32": "eagle_gtx1080ti",
    "desktop-gpu-gtx-1080ti-large": "eagle_gtx1080ti_large",
    "embedded-gpu-jetson-nono-fp16": "eagle_jetson_nano_fp16",
    "embedded-gpu-jetson-nono-fp32": "eagle_jetson_nano_fp32",
    "embeeded-tpu-edgetpu-int8": "eagle_edgetpu",
    "embedded-tpu-edgetpu-int8": "eagle_edgetpu",
    "embedded-tpu-edgetpu-large": "eagle_edgetpu_large",
    "mobile-cpu-snapdragon-450-contex-a53-int8": "eagle_sd450_cpu",
    "mobile-cpu-snapdragon-450-cortex-a53-int8": "eagle_sd450_cpu",
    "mobile-cpu-snapdragon-675-kryo-460-int8": "eagle_sd675_cpu",
    "mobile-cpu-snapdragon-855-kryo-485-int8": "eagle_sd855_cpu",
    "mobile-dsp-snapdragon-675-hexagon-685-int8": "eagle_sd675_dsp",
    "mobile-dsp-snapdragon-855-hexagon-690-int8": "eagle_sd855_dsp",
    "mobile-gpu-snapdragon-450-adreno-506-int8": "eagle_sd450_gpu",
    "mobile-gpu-snapdragon-675-adren0-612-int8": "eagle_sd675_gpu",
    "mobile-gpu-snapdragon-855-adren0-640-int8": "eagle_sd855_gpu",
}

_PLATFORM_PREFIX = {
    "desktop-cpu": "desktop_cpu", "desktop-gpu": "desktop_gpu", "embedded-gpu": "embedded_gpu",
    "embedded-tpu": "edge_tpu", "embeeded-tpu": "edge_tpu", "mobile-cpu": "mobile_cpu",
    "mobile-gpu": "mobile_gpu", "mobile-dsp": "mobile_dsp",
}


# Upstream spellings of a registry id (HELP's OFA files say titan_xp for the Titan Xp).
_ALIASES = {f"titan_xp_{b}": f"titanxp_{b}" for b in _HELP_GPU_BATCHES}


# mobile-ml-benchmark phones: (display name, SoC, its CPU, its GPU), from the makers' data sheets.
MOBILE_PHONES: dict[str, tuple[str, str, str, str]] = {
    "pixel4": ("Google Pixel 4", "Qualcomm Snapdragon 855", "Kryo 485", "Adreno 640"),
    "s10": ("Samsung Galaxy S10", "Samsung Exynos 9820", "Exynos M4 / Cortex-A75 / A55",
            "Mali-G76 MP12"),
    "mi8se": ("Xiaomi Mi 8 SE", "Qualcomm Snapdragon 710", "Kryo 360", "Adreno 616"),
    "onefusion": ("Motorola One Fusion", "Qualcomm Snapdragon 710", "Kryo 360", "Adreno 616"),
    "a03s": ("Samsung Galaxy A03s", "MediaTek Helio P35", "Cortex-A53", "PowerVR GE8320"),
    "iphone7": ("Apple iPhone 7", "Apple A10 Fusion", "Hurricane / Zephyr", "Apple A10 GPU"),
    "iphonexs": ("Apple iPhone XS", "Apple A12 Bionic", "Vortex / Tempest", "Apple A12 GPU"),
}
MOBILE_FRAMEWORKS = {"tflite": "TFLite", "torch": "PyTorch Mobile"}
MOBILE_PRECISIONS = {"float": "fp32", "quant": "int8"}
_CORES = re.compile(r"gpu|(?:\d+(?:large|med|small))+")


class UnknownMobileEnvironment(OneproxyError, ValueError):
    """A mobile-ml-benchmark column group naming a phone, framework or precision not listed."""


def mobile_device(framework: str, phone: str, cores: str, precision: str) -> Device:
    """The device series of one mobile-ml-benchmark environment (framework × phone × cores ×
    precision), e.g. ``mmb_tflite_pixel4_1large_float``: a GPU environment is `mobile_gpu`,
    any CPU core configuration `mobile_cpu`."""
    if framework not in MOBILE_FRAMEWORKS:
        raise UnknownMobileEnvironment(f"framework {framework!r} is not one of "
                                       f"{', '.join(MOBILE_FRAMEWORKS)}")
    if phone not in MOBILE_PHONES:
        raise UnknownMobileEnvironment(f"phone {phone!r} is not one of {', '.join(MOBILE_PHONES)}")
    if precision not in MOBILE_PRECISIONS:
        raise UnknownMobileEnvironment(f"precision {precision!r} is not one of "
                                       f"{', '.join(MOBILE_PRECISIONS)}")
    if not _CORES.fullmatch(cores):
        raise UnknownMobileEnvironment(f"core configuration {cores!r} is neither 'gpu' nor "
                                       "counts of large / med / small cores such as '1large2med'")
    name, soc, cpu, gpu = MOBILE_PHONES[phone]
    on_gpu = cores == "gpu"
    fw = MOBILE_FRAMEWORKS[framework]
    return Device(
        f"mmb_{framework}_{phone}_{cores}_{precision}",
        f"{name} {'GPU' if on_gpu else cores}, {fw} {MOBILE_PRECISIONS[precision]}",
        f"{soc} ({gpu if on_gpu else cpu})", "mobile_gpu" if on_gpu else "mobile_cpu", fw,
        MOBILE_PRECISIONS[precision], 1, MOBILE_BENCH, None,
        f"phone {phone}, upstream precision {precision!r}", cores,
    )


def mobile_environment(device_id: str) -> tuple[str, str, str, str] | None:
    """(framework, phone, cores, precision) of a `mobile_device` id, or None for other devices."""
    parts = device_id.split("_")
    if len(parts) != 5 or parts[0] != "mmb":
        return None
    framework, phone, cores, precision = parts[1:]
    known = (framework in MOBILE_FRAMEWORKS and phone in MOBILE_PHONES
             and precision in MOBILE_PRECISIONS and _CORES.fullmatch(cores))
    return (framework, phone, cores, precision) if known else None


def _anb(name: str, display: str, platform: str, framework: str | None,
         precision: str | None, notes: str) -> Device:
    return Device(f"anb_{name}", f"{display} (Accel-NASBench)", display, platform, framework,
                  precision, None, ACCEL_NASBENCH, None, notes)


# Accel-NASBench's platforms, by the upstream suffix of `latency_<x>` / `throughput_<x>`.
ACCEL_DEVICES: dict[str, Device] = {
    "zcu102": _anb("zcu102", "Xilinx Zynq UltraScale+ ZCU102", "fpga", "Vitis AI", "int8",
                   "DPU; latency and throughput"),
    "vck190": _anb("vck190", "Xilinx Versal AI Core VCK190", "fpga", "Vitis AI", "int8",
                   "DPU; latency and throughput"),
    "a100": _anb("a100", "NVIDIA A100", "desktop_gpu", None, None, "throughput only"),
    "3090": _anb("rtx3090", "NVIDIA RTX 3090", "desktop_gpu", None, None, "throughput only"),
    "tpuv2": _anb("tpuv2", "Google Cloud TPU v2", "asic", None, None, "throughput only"),
    "tpuv3": _anb("tpuv3", "Google Cloud TPU v3", "asic", None, None, "throughput only"),
}


def known_device(device_id: str) -> Device | None:
    """The registry entry of a canonical device id (or an upstream alias of one), or None."""
    return _BY_ID.get(_ALIASES.get(device_id, device_id))


def eagle_device(file_stem: str) -> Device:
    """The device of an Eagle latency file, named from its file name (unknown names get a slug)."""
    known = EAGLE_FILE_DEVICES.get(file_stem)
    if known is not None:
        return _BY_ID[known]
    slug = re.sub(r"[^a-z0-9]+", "_", file_stem.lower()).strip("_")
    platform = next((v for k, v in _PLATFORM_PREFIX.items() if file_stem.startswith(k)), "other")
    return Device(f"eagle_{slug}", file_stem, file_stem, platform, None, None, 1, EAGLE)


def devices_table(devices: list[Device]) -> pa.Table:
    """The `devices` warehouse table for these devices, sorted by id."""
    rows = [asdict(d) for d in sorted(devices, key=lambda d: d.device_id)]
    return pa.Table.from_pylist(rows, schema=DEVICES)

