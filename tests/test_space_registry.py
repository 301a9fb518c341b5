"""The space registry: one codec object per space id, and a clear error for an unknown one."""

import pytest
from oneproxy.ingest.user_table import user_spaces
from oneproxy.warehouse import spaces
from oneproxy.warehouse.errors import UnknownSpace
from oneproxy.warehouse.spaces import fbnet, nb201


def test_get_returns_the_codec_of_each_space():
    assert spaces.get("nb201").default_dataset == "cifar10"
    assert spaces.get("fbnet").arch_ids is fbnet.arch_ids
    row = spaces.get("nb201").row()
    assert row["size"] == str(nb201.N_ARCHS) and row["log10_size"] == pytest.approx(4.19382, 1e-5)


def test_unknown_space_lists_the_known_ones():
    with pytest.raises(UnknownSpace, match="unknown space 'nb999': known spaces are .*nb201"):
        spaces.get("nb999")


def test_canonical_keys_of_user_spellings():
    key = fbnet.format_key([0] * fbnet.N_LAYERS)
    assert spaces.get("fbnet").canonical_key(str([0] * fbnet.N_LAYERS)) == key
    nb = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert spaces.get("nb201").canonical_key(f"  {nb} ") == nb


def test_op_table_spaces_take_no_user_tables():
    assert "ofa_fpga" not in user_spaces() and "nb201" in user_spaces()
