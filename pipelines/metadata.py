"""Turn the plain result objects of ml/, alerts/ and delivery/ into Dagster metadata."""

import dataclasses
from typing import Any

import dagster as dg


def result_metadata(result: Any) -> dict[str, Any]:
    """Every field of a result dataclass as metadata: numbers and text as they are, the rest as JSON."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if value is None or isinstance(value, bool | int | float | str):
            out[field.name] = value if value is not None else "—"
        else:
            out[field.name] = dg.MetadataValue.json(_jsonable(value))
    return out


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)
