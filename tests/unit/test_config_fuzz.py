"""Fuzzing `parse_duration` (issue 13, item 6): any text is a duration of
finite, non-negative seconds or a ConfigError."""

from __future__ import annotations

import math

from hypothesis import example, given

from sealedreg.config import ConfigError, parse_duration
from tests.helpers.fuzz import ANY_TEXT, FUZZ, mutated_text


@FUZZ
@given(text=ANY_TEXT | mutated_text(["90", "30s", "15m", "2h", "7d", "1w", "0.5ms", " 3 h "]))
@example(text="9" * 400)                     # float("99…9") is inf: an endless grace period
@example(text="1" + "0" * 308 + "w")         # finite, until the unit multiplies it
def test_parse_duration_is_finite_or_config_error(text):
    try:
        seconds = parse_duration(text)
    except ConfigError:
        return
    assert math.isfinite(seconds) and seconds >= 0
