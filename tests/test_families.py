"""A head's name, ``layer.head``: one parser for the CLI's --unit and the experiment spec."""

import re

import pytest

from mda_curate.errors import FieldError
from mda_curate.families import parse_unit


def test_a_unit_name_is_layer_dot_head():
    assert parse_unit("1.2") == (1, 2)
    assert parse_unit("12.0") == (12, 0)


@pytest.mark.parametrize("text", ["1", "1.2.3", "L1H2", "1.", ".2", "-1.2", "1.²", " 1.2", None])
def test_anything_else_is_an_error_naming_the_field(text):
    message = rf"^seeds\[0\]\.unit: must be LAYER.HEAD, e.g. 1.3 \(got {re.escape(repr(text))}\)$"
    with pytest.raises(FieldError, match=message):
        parse_unit(text, "seeds[0].unit")
