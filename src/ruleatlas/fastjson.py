"""JSON decoding by orjson (~3x faster than the standard library on the megabytes the build reads: cached
telemetry, botocore's and Google's API models), with `json` as the fallback for what orjson refuses and json
accepts (a lone surrogate escape, NaN): the value is the one `json.loads` gives, except for integers beyond
64 bits, which orjson reads as floats — use it for data whose numbers are not read (the telemetry catalog
keeps names, types and texts) or are small."""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
