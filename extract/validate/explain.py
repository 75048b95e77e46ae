"""Pydantic validation errors as one-line 'what was expected, what was found' messages.

Shared by study files and the review plan (``what`` names which one it is).
"""

from __future__ import annotations

from typing import Any, Iterable

from ..schema import EXPOSURES, OUTCOMES
from .messages import clip, did_you_mean


def strip_tags(loc: tuple, data: Any) -> tuple:
    """Drop the discriminator tags pydantic inserts into union error locations."""
    out = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            if part in node:
                out.append(part)
                node = node[part]
                continue
            if isinstance(part, str) and part in (node.get("kind"), node.get("tool")):
                continue  # union tag (records: kind; risk_of_bias: tool)
            out.append(part)
            node = None
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        else:
            if isinstance(part, str) and part.startswith(("function-", "union[", "tagged-")):
                continue
            if part in ("float", "str", "int", "bool"):
                continue
            out.append(part)
            node = None
    return tuple(out)


_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "date_type": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
}


def _numeric_text(text: str) -> bool:
    try:
        float(text)
        return True
    except (ValueError, OverflowError):
        return False


def found(value: Any) -> str:
    """A value as echoed in a message: short, on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None:
        return "nothing (null)"
    return clip(repr(value), 60)


def explain(err: dict, field_names: Iterable[str] = ()) -> str:
    """Turn one pydantic error into 'what was expected, what was found'.

    ``field_names`` are offered as did-you-mean suggestions for an unknown field.
    """
    kind = err["type"]
    value = err.get("input")
    loc = err["loc"]
    ctx = err.get("ctx") or {}
    if kind == "rob_tool":  # risk_of_bias item with no or an unknown tool (extract.appraisal)
        tool = value.get("tool") if isinstance(value, dict) else None
        return f"{err['msg']}; found {'no tool' if tool is None else repr(tool)}"
    if kind == "missing":
        return f"required field '{clip(loc[-1], 40)}' is missing"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        return f"unknown field '{clip(name, 40)}'{did_you_mean(name, field_names)}"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",")]
        options = [o for o in options if o]
        hint = did_you_mean(value, options)
        if len(options) > 8:
            vocab = "outcome" if set(options) <= set(OUTCOMES) else (
                "exposure" if set(options) <= set(EXPOSURES) else "allowed")
            return (f"{clip(repr(value), 40)} is not in the {vocab} vocabulary{hint}; "
                    f"expected one of: {', '.join(options)}")
        return f"expected one of {expected}; found {found(value)}{hint}"
    if kind == "union_tag_invalid":
        expected = ctx.get("expected_tags", "")
        tag = ctx.get("tag", value)
        hint = did_you_mean(str(tag), expected.replace("'", "").split(", "))
        return f"unknown record kind '{clip(tag, 40)}'{hint}; expected one of {expected}"
    if kind == "union_tag_not_found":
        return ("record has no 'kind'; expected one of 'binary', 'proportion', 'ratio', "
                "'pvalue', 'survival_rate'")
    if kind == "finite_number":
        return f"expected a finite number; found {found(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sym = {"greater_than_equal": "≥", "greater_than": ">",
               "less_than_equal": "≤", "less_than": "<"}[kind]
        limit = next(iter(ctx.values())) if ctx else "?"
        return f"expected a number {sym} {limit}; found {found(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length', '?')} characters long"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        if isinstance(value, str):
            return "must not be empty"
        got = len(value) if hasattr(value, "__len__") else "?"
        return f"needs at least {n} item{'s' if n != 1 else ''}; found {got}"
    if kind == "too_long":
        return clip(err["msg"].replace("List", "list"), 60) + f"; found {found(value)}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        if pattern.startswith("^10"):
            return f"{found(value)} is not a DOI; write it as 10.xxxx/..., without https://doi.org/"
        if pattern.startswith("^(largest"):
            return f"expected largest, most_recent or a study id; found {found(value)}"
        if "a-f" in pattern:
            return f"{found(value)} is not a sha256 (64 lower-case hex digits)"
        if "[a-z0-9_]" in pattern:
            return f"{found(value)} is not an id: use lower-case letters, digits and _"
        return f"{found(value)} is not in the expected form ({pattern})"
    if kind == "value_error":
        return clip(err["msg"].removeprefix("Value error, "), 300)
    if kind in _TYPE_WORDS:
        hint = ""
        if kind == "string_type" and isinstance(value, (int, float, bool)):
            hint = " (YAML read it as a number or true/false; put it in quotes)"
        if kind in ("int_type", "float_type") and isinstance(value, str) and _numeric_text(value):
            hint = " (remove the quotes around the number)"
        return f"expected {_TYPE_WORDS[kind]}; found {found(value)}{hint}"
    return f"{clip(err['msg'], 120)}; found {found(value)}"
