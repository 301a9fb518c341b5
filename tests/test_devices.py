"""The device registry: ids, platform classes, and devices named from Eagle file names."""

from oneproxy.warehouse.devices import KNOWN_DEVICES, PLATFORM_CLASSES, eagle_device, known_device


def test_every_registered_device_has_a_known_platform_class_and_a_unique_id():
    ids = [d.device_id for d in KNOWN_DEVICES]
    assert len(ids) == len(set(ids))
    assert {d.platform_class for d in KNOWN_DEVICES} <= set(PLATFORM_CLASSES)


def test_eagle_files_map_to_registered_devices_or_named_slugs():
    assert eagle_device("desktop-cpu-core-i7-7820x-fp32") is known_device("eagle_i7")
    assert eagle_device("mobile-gpu-snapdragon-855-adren0-640-int8").device_id == "eagle_sd855_gpu"
    new = eagle_device("mobile-dsp-snapdragon-888-hexagon-780-int8")
    assert (new.device_id, new.platform_class) == (
        "eagle_mobile_dsp_snapdragon_888_hexagon_780_int8", "mobile_dsp")
    assert eagle_device("Weird Board!").platform_class == "other"
    assert "other" in PLATFORM_CLASSES
