"""Checking JSON against the small schema excerpts kept beside the emulators.

The excerpts (cloudflare.schema.json, desec.schema.json) copy, from the published API
descriptions named in each file's "source", only the parts the emulators serve. This checker
knows the few JSON Schema words they use: $ref, type, required, properties,
additionalProperties, items, enum, minimum, maximum, pattern.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}


class Schema:
    def __init__(self, name: str) -> None:
        self.document = json.loads((Path(__file__).parent / f"{name}.schema.json").read_text())

    def errors(self, value: Any, definition: str) -> list[str]:
        """What in `value` breaks `#/definitions/<definition>`, as `path: problem` lines."""
        return list(self._check(value, {"$ref": f"#/definitions/{definition}"}, definition))

    def _check(self, value: Any, rule: dict[str, Any], path: str) -> Any:
        if "$ref" in rule:
            yield from self._check(value, self.document["definitions"][rule["$ref"][14:]], path)
            return
        types = rule.get("type")
        if types is not None:
            wanted = types if isinstance(types, list) else [types]
            bad_bool = isinstance(value, bool) and "boolean" not in wanted
            if bad_bool or not isinstance(value, tuple(_TYPES[t] for t in wanted)):
                yield f"{path}: {value!r:.60} is not {'/'.join(wanted)}"
                return
        if "enum" in rule and value not in rule["enum"]:
            yield f"{path}: {value!r:.60} is not one of {rule['enum']}"
        if "minimum" in rule and value < rule["minimum"]:
            yield f"{path}: {value} is below {rule['minimum']}"
        if "maximum" in rule and value > rule["maximum"]:
            yield f"{path}: {value} is above {rule['maximum']}"
        if "pattern" in rule and not re.search(rule["pattern"], value):
            yield f"{path}: {value!r:.60} does not match {rule['pattern']}"
        if isinstance(value, dict):
            yield from self._object(value, rule, path)
        if isinstance(value, list) and "items" in rule:
            for index, item in enumerate(value):
                yield from self._check(item, rule["items"], f"{path}[{index}]")

    def _object(self, value: dict[str, Any], rule: dict[str, Any], path: str) -> Any:
        properties = rule.get("properties", {})
        for key in rule.get("required", []):
            if key not in value:
                yield f"{path}: {key} is required"
        for key, item in value.items():
            if key in properties:
                yield from self._check(item, properties[key], f"{path}.{key}")
            elif rule.get("additionalProperties", True) is False:
                yield f"{path}: {key} is not a known field"
