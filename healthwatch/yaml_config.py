"""Load YAML files people edit into pydantic models, with errors naming the file, the key and the fix."""

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from healthwatch.errors import HealthwatchError

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Read `path` and validate it as `model`; raise HealthwatchError naming file, key and fix."""
    if not path.is_file():
        raise HealthwatchError(
            f"config file not found: {path}", "create it, or point the setting at an existing file"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise HealthwatchError(f"{path}: not valid YAML{where}", "fix the YAML syntax") from exc
    if not isinstance(data, dict):
        raise HealthwatchError(
            f"{path}: expected a mapping of keys at the top level", "see the file's comments"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HealthwatchError(format_validation_error(path, exc)) from exc


def format_validation_error(path: Path, exc: ValidationError) -> str:
    """One line per problem: `file: key.path: what is wrong (got value)`."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        got = err.get("input")
        shown = "" if isinstance(got, dict) or err["type"] == "missing" else f" (got {got!r})"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling"
        lines.append(f"{path}: {key}: {msg}{shown}")
    return "; ".join(lines)
