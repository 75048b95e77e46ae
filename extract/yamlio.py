"""Safe YAML reading that remembers where every value came from.

The loader turns a YAML file into plain Python data (dicts, lists, str, int,
float, bool, None, dates) and, beside it, two maps keyed by the value's path
(a tuple of keys and list indices):

* ``positions[path] = (line, column)`` (1-based) of the value, used to report
  errors as ``file:line:col``;
* ``raw[path]`` = the scalar exactly as it was typed ("0.40", "86.96"), used by
  the rounding-aware checks.

It refuses what an extraction file never needs and an attacker might send:
anchors and aliases (alias bombs), explicit tags (object construction),
duplicate keys, non-UTF-8 bytes and files over ``MAX_BYTES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import re

import yaml

from synthesis.errors import CarsynthError

MAX_BYTES = 2_000_000  # a generous study file is ~50 kB
MAX_DEPTH = 50  # the format nests 6 levels; deep nesting would exhaust the recursion

Path_ = tuple[Any, ...]

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass
class Located:
    """Data read from a YAML file, with the position and raw text of each value."""

    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    raw: dict[Path_, str] = field(default_factory=dict)

    def where(self, path: Path_) -> tuple[int, int]:
        """Best position for ``path``: the value, else its key, else the nearest ancestor."""
        path = tuple(path)
        while True:
            if path in self.positions:
                return self.positions[path]
            if path in self.key_positions:
                return self.key_positions[path]
            if not path:
                return (1, 1)
            path = path[:-1]


class YamlInputError(CarsynthError):
    """A file that cannot be read as a plain YAML mapping; carries line and column."""

    def __init__(self, message: str, line: int = 1, col: int = 1):
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


def _mark(node_or_mark) -> tuple[int, int]:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return (mark.line + 1, mark.column + 1)


_NOUNS = {"study file": ("a study file", "study files"), "plan": ("the plan", "the plan")}
# what YAML 1.1 refuses (C0 controls but tab, LF, CR; DEL; C1 controls but NEL; surrogates)
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff"
                       "\ufffe\uffff]")


def _nouns(what: str) -> tuple[str, str]:
    return _NOUNS.get(what, (f"a {what}", f"{what}s"))


def _check_characters(text: str) -> None:
    """Refuse control characters at their true line and column, before YAML sees them."""
    m = _BAD_CHAR.search(text)
    if m is None:
        return
    line = text.count("\n", 0, m.start()) + 1
    col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    code = ord(m.group())
    name = "NUL" if code == 0 else f"U+{code:04X}"
    raise YamlInputError(f"control character {name} is not allowed; remove it (a binary file, "
                         f"or text pasted from a PDF?)", line, col)


def read_text(path: Path, what: str = "study file") -> str:
    """Read a file as UTF-8, refusing oversized and undecodable files with a position."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise YamlInputError(f"cannot read file: {exc.strerror}") from None
    if size > MAX_BYTES:
        raise YamlInputError(
            f"file is {size:,} bytes; the limit is {MAX_BYTES:,} bytes for "
            f"{'one study file' if what == 'study file' else _nouns(what)[0]}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise YamlInputError(f"cannot read file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise YamlInputError(
            f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8",
            line,
            col,
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def load_yaml(text: str, what: str = "study file") -> Located:
    """Parse YAML text into :class:`Located` data, or raise :class:`YamlInputError`.

    ``what`` ("study file" or "plan") is the noun used in messages.
    """
    one, many = _nouns(what)
    _check_characters(text)
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    # First pass over the event stream: refuse anchors, aliases and custom tags
    # before anything is composed, so an alias bomb never expands.
    depth = 0
    documents = 0
    try:
        for event in yaml.parse(text, Loader=loader_cls):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise YamlInputError(
                        f"{one} holds one YAML document; remove the second '---' "
                        "or split the file", *_mark(event.start_mark))
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlInputError(
                        f"values nested more than {MAX_DEPTH} levels deep; {one} "
                        f"never needs that", *_mark(event.start_mark))
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            if isinstance(event, yaml.AliasEvent):
                raise YamlInputError(
                    f"anchors and aliases (*name) are not allowed in {many}; "
                    "write each value out",
                    *_mark(event.start_mark),
                )
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                raise YamlInputError(
                    f"anchors (&{anchor}) are not allowed in {many}; write each value out",
                    *_mark(event.start_mark),
                )
            tag = getattr(event, "tag", None)
            if tag is not None and tag != "!" and tag not in _PLAIN_TAGS:
                shown = tag.replace("tag:yaml.org,2002:", "!!")
                raise YamlInputError(
                    f"explicit YAML tags ({shown}) are not allowed in {many}",
                    *_mark(event.start_mark),
                )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line, col = _mark(mark) if mark else (1, 1)
        raise YamlInputError(f"invalid YAML: {problem}", line, col) from None
    except yaml.YAMLError as exc:  # a reader error: positions are character offsets
        where = getattr(exc, "position", None)
        line, col = 1, 1
        if isinstance(where, int):
            line = text.count("\n", 0, where) + 1
            col = where - (text.rfind("\n", 0, where) + 1) + 1
        problem = " ".join(str(getattr(exc, "reason", None) or exc).split())
        raise YamlInputError(f"invalid YAML: {problem[:120]}", line, col) from None

    try:
        node = yaml.compose(text, Loader=loader_cls)
    except yaml.MarkedYAMLError as exc:  # pragma: no cover - the event scan catches these
        mark = exc.problem_mark or exc.context_mark
        line, col = _mark(mark) if mark else (1, 1)
        raise YamlInputError(f"invalid YAML: {exc.problem or exc.context}", line, col) from None
    located = Located(data=None)
    if node is None:
        raise YamlInputError(f"the file is empty; {one} is a YAML mapping")
    constructor = yaml.constructor.SafeConstructor()
    located.data = _convert(node, (), located, constructor)
    if not isinstance(located.data, dict):
        raise YamlInputError(
            f"{one} must be a YAML mapping (key: value lines); found a {_kind(node)}",
            *_mark(node),
        )
    return located


def _kind(node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return "single value"


def _convert(node, path: Path_, located: Located, constructor) -> Any:
    located.positions[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlInputError("mapping keys must be plain words", *_mark(key_node))
            if key_node.tag in (_MERGE, _VALUE):
                key = key_node.value  # '<<' and '=' are plain (unknown) keys here, not merges
            else:
                try:
                    key = constructor.construct_object(key_node)
                except (yaml.YAMLError, ValueError, OverflowError) as exc:
                    raise YamlInputError(f"cannot read key {_short(key_node.value)}: "
                                         f"{_problem(exc)}", *_mark(key_node)) from None
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                first = located.key_positions[path + (key,)]
                raise YamlInputError(
                    f"duplicate key '{key}' (first given at line {first[0]})", *_mark(key_node)
                )
            located.key_positions[path + (key,)] = _mark(key_node)
            out[key] = _convert(value_node, path + (key,), located, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(child, path + (i,), located, constructor) for i, child in enumerate(node.value)
        ]
    located.raw[path] = node.value
    try:
        return constructor.construct_object(node)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise YamlInputError(f"cannot read value {_short(node.value)}: {_problem(exc)}",
                             *_mark(node)) from None


_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _problem(exc: Exception) -> str:
    """The first line of a YAML error, without its '<unicode string>' position line."""
    text = getattr(exc, "problem", None) or str(exc)
    return " ".join(text.split("\n")[0].split())[:120]


def load_file(path: Path, what: str = "study file") -> Located:
    return load_yaml(read_text(path, what), what)
