"""thermcli.parsing: the option parsers below the CLI raise UsageError naming the option; the
CLI's wrappers raise typer's BadParameter with the same message."""

from __future__ import annotations

import pytest
import typer

from thermcli import parsing
from thermcli.cli import options
from thermcli.errors import UsageError

BAD = [
    (parsing.parse_levels, ("50:10:5", "--range")),
    (parsing.parse_interval, ("40:20", "--window")),
    (parsing.parse_size, ("256by192", "--crop")),
    (parsing.parse_duration, ("soon", "--max-skew")),
    (parsing.parse_shard, ("4/4",)),
    (parsing.parse_frame_range, ("9:3",)),
    (parsing.parse_name_list, (" , ", "--columns")),
    (parsing.parse_percentiles, ("1:101",)),
    (parsing.parse_span, ("3:1", "--gain")),
    (parsing.parse_choice_list, ("resnet", ["resnet18", "resnet50"], "--arch")),
    (parsing.check_fraction, (1.5, "--flip")),
]


@pytest.mark.parametrize("parser, args", BAD, ids=[p.__name__ for p, _ in BAD])
def test_bad_text_is_a_usage_error_naming_the_option(parser, args):
    with pytest.raises(UsageError) as library_error:
        parser(*args)
    assert library_error.value.param and library_error.value.param.startswith("--")
    with pytest.raises(typer.BadParameter) as cli_error:
        getattr(options, parser.__name__)(*args)
    assert cli_error.value.message == library_error.value.message
    assert cli_error.value.param_hint == library_error.value.param


def test_good_text_parses_the_same_through_the_cli_wrappers():
    assert parsing.parse_size("256x192") == options.parse_size("256x192") == (256, 192)
    assert parsing.parse_duration("60ms", "--max-skew") == pytest.approx(0.06)
    assert parsing.parse_shard("1/4") == (1, 4)
    assert [parsing.shard_bounds(10, (k, 3)) for k in range(3)] == [(0, 3), (3, 6), (6, 10)]
    assert options.shard_bounds is parsing.shard_bounds

