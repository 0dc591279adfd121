"""JSON decoding by orjson (~3x faster than the standard library on the megabytes the build reads: cached
telemetry, botocore's and Google's API models), with `json` as the fallback for what it accepts and orjson
refuses (a lone surrogate escape, integers over 64 bits, NaN): the value is always the one `json.loads`
gives."""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
