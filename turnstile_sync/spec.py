"""YAML → Spec, with every problem reported at its file:line:column, all at once.

PyYAML's constructors throw away positions, so the document is composed into nodes first and
turned into plain data here, keeping the position of every key and list item. Duplicate keys,
which plain ``yaml.safe_load`` silently resolves to the last one, are refused: in a spec they
are almost always a copy-paste mistake that would otherwise change a widget unnoticed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from turnstile_sync import name_rules
from turnstile_sync.errors import Problem, SpecError
from turnstile_sync.hostnames import normalise_hostname
from turnstile_sync.models import (
    ENTERPRISE_MAX_DOMAINS,
    FREE_MAX_DOMAINS,
    Spec,
    WidgetSettings,
    WidgetSpec,
)
from turnstile_sync.quoting import excerpt, printable, quoted
from turnstile_sync.userfiles import SPEC_SIZE_CAP, UserFileError, decode, read_bytes

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (10x faster on large specs), else the Python one.
Both only build plain data, and both give every node its line and column."""

__all__ = ["SPEC_SIZE_CAP", "LoadedSpec", "load_spec", "load_spec_text", "printable"]

Location = tuple[str | int, ...]
MAX_NODES = 1_000_000
"""More values than a spec within the size cap holds; stops "billion laughs" alias bombs."""
MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_COLLECTION_TAGS: dict[type[yaml.Node], str] = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}


@dataclass
class _Positions:
    """Where each key and item of the document starts (1-based line and column)."""

    marks: dict[Location, tuple[int, int]] = field(default_factory=dict)
    duplicates: list[tuple[Location, str]] = field(default_factory=list)
    visited: int = 0
    collections: set[int] = field(default_factory=set)
    """Ids of the collection nodes converted so far: meeting one again means an alias."""
    open_collections: set[int] = field(default_factory=set)
    """Ids of the collections being converted: meeting one of them means a recursive alias."""
    aliased: bool = False

    def add(self, location: Location, mark: yaml.Mark) -> None:
        """Record a node; refuse documents whose aliases expand without bound, saying which
        limit was hit (a large plain document is not blamed on aliases it does not have)."""
        self.visited += 1
        if len(location) > MAX_DEPTH:
            cause = " (through a recursive alias?)" if self.aliased else ""
            self.refuse(f"the document nests deeper than {MAX_DEPTH} levels{cause}", mark)
        if self.visited > MAX_NODES:
            if self.aliased:
                self.refuse(
                    f"the document's aliases expand it to more than {MAX_NODES:,} values "
                    "(exponential aliases, a 'billion laughs'?)",
                    mark,
                )
            self.refuse(f"the document has more than {MAX_NODES:,} values", mark)
        self.marks.setdefault(location, (mark.line + 1, mark.column + 1))

    def enter(self, node: yaml.Node) -> None:
        """Note a collection node; one seen before is reached again through an alias."""
        if id(node) in self.open_collections:
            self.refuse(
                "an alias refers to a collection that contains it (recursive alias)",
                node.start_mark,
            )
        self.open_collections.add(id(node))
        if id(node) in self.collections:
            self.aliased = True
        else:
            self.collections.add(id(node))

    @staticmethod
    def refuse(message: str, mark: yaml.Mark) -> None:
        raise yaml.constructor.ConstructorError(None, None, message, mark)

    def nearest(self, location: Location) -> tuple[int | None, int | None]:
        """The deepest known position on the path: a missing key points at its parent."""
        for depth in range(len(location), -1, -1):
            found = self.marks.get(location[:depth])
            if found:
                return found
        return None, None


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec and where its widgets are written, for messages and annotations."""

    spec: Spec
    source: str
    widget_lines: tuple[int | None, ...]
    key_lines: dict[str, int] = field(default_factory=dict)
    """Line of each top-level key (e.g. where 'prune:' is), for annotations."""
    sha256: str = ""
    """Digest of the bytes that were validated (empty for text not read from a file), so a
    plan can record exactly which spec it came from without reading the file twice."""

    def line_of(self, widget_name: str) -> int | None:
        for widget, line in zip(self.spec.widgets, self.widget_lines, strict=True):
            if widget.name == widget_name:
                return line
        return None


def load_spec(path: str | Path) -> LoadedSpec:
    """Read and validate a spec file. Raises SpecError listing every problem.

    Only a regular file within SPEC_SIZE_CAP is read (see userfiles): a FIFO, a device or a
    huge file is refused at once rather than blocking or filling memory."""
    source = str(path)
    try:
        data = read_bytes(path, SPEC_SIZE_CAP)
        text = decode(data, source)
    except UserFileError as error:
        message = "file not found" if error.missing else f"the file {error.reason}"
        raise SpecError(source, [Problem(message)]) from None
    loaded = load_spec_text(text, source)
    return dataclasses.replace(loaded, sha256=hashlib.sha256(data).hexdigest())


def load_spec_text(text: str, source: str = "<spec>") -> LoadedSpec:
    """Validate spec text; ``source`` names it in messages."""
    positions = _Positions()
    syntax_problems: list[Problem] = []
    data = _parse_yaml(text, positions, syntax_problems)
    if syntax_problems:
        raise SpecError(source, syntax_problems)
    if data is None:
        raise SpecError(source, [Problem("the file is empty; expected a mapping with 'widgets:'")])
    if not isinstance(data, dict):
        line, column = positions.nearest(())
        raise SpecError(
            source,
            [Problem("expected a mapping with 'widgets:' at the top level", "", line, column)],
        )
    problems = [
        Problem(message, _format_location(location, data), *positions.nearest(location))
        for location, message in positions.duplicates
    ]
    problems += _duplicate_name_problems(data, positions)
    problems += _cross_field_problems(data, positions)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as error:
        problems += [_problem_from_pydantic(item, data, positions) for item in error.errors()]
        raise SpecError(source, _in_file_order(problems)) from None
    if problems:
        raise SpecError(source, _in_file_order(problems))
    lines = tuple(positions.nearest(("widgets", index))[0] for index in range(len(spec.widgets)))
    key_lines = {
        location[0]: mark[0]
        for location, mark in positions.marks.items()
        if len(location) == 1 and isinstance(location[0], str)
    }
    return LoadedSpec(spec=spec, source=source, widget_lines=lines, key_lines=key_lines)


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda problem: (problem.line or 0, problem.column or 0))


def _parse_yaml(text: str, positions: _Positions, problems: list[Problem]) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _to_data(node, (), loader, positions, problems)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        message = f"invalid YAML: {error.problem or error.context or 'syntax error'}"
        problems.append(Problem(message, "", line, column))
        return None
    except yaml.YAMLError as error:
        problems.append(Problem(f"invalid YAML: {error}"))
        return None
    finally:
        loader.dispose()


def _to_data(
    node: yaml.Node,
    location: Location,
    loader: Any,
    positions: _Positions,
    problems: list[Problem],
) -> Any:
    positions.add(location, node.start_mark)
    if type(node) is yaml.ScalarNode:
        return _construct(node, loader)
    expected_tag = _COLLECTION_TAGS.get(type(node))
    if expected_tag is None:
        return loader.construct_object(node, deep=True)
    if node.tag != expected_tag:
        raise yaml.constructor.ConstructorError(
            None, None, f"unsupported YAML tag {quoted(node.tag)}", node.start_mark
        )
    positions.enter(node)
    if isinstance(node, yaml.MappingNode):
        result: Any = _mapping_to_data(node, location, loader, positions, problems)
    else:
        result = [
            _to_data(item, (*location, index), loader, positions, problems)
            for index, item in enumerate(node.value)
        ]
    positions.open_collections.discard(id(node))
    return result


def _construct(node: yaml.Node, loader: Any) -> Any:
    """A scalar's value; strings (nearly every scalar of a spec) without the constructor's
    overhead, which is most of the time a large spec takes."""
    if node.tag == _STR_TAG and type(node) is yaml.ScalarNode:
        return node.value
    return loader.construct_object(node, deep=True)


def _mapping_to_data(
    node: yaml.MappingNode,
    location: Location,
    loader: Any,
    positions: _Positions,
    problems: list[Problem],
) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    merges = False
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            merges = True
            continue
        key = _construct(key_node, loader)
        if not isinstance(key, str):
            continue
        line = key_node.start_mark.line + 1
        if key in seen:
            message = (
                f"duplicate key {quoted(key)} (first set on line {seen[key]}); "
                "YAML would silently keep only the last one"
            )
            positions.duplicates.append(((*location, key), message))
            positions.marks[(*location, key)] = (line, key_node.start_mark.column + 1)
        else:
            seen[key] = line
    if merges:
        loader.flatten_mapping(node)  # resolves '<<' merge keys; later keys override earlier
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = _construct(key_node, loader)
        if not isinstance(key, str):
            column = key_node.start_mark.column + 1
            problems.append(
                Problem(
                    f"keys must be strings, got {_bounded(key)}",
                    _format_location(location, {}),
                    key_node.start_mark.line + 1,
                    column,
                )
            )
            continue
        positions.add((*location, key), key_node.start_mark)
        result[key] = _to_data(value_node, (*location, key), loader, positions, problems)
    return result


def _bounded(value: Any) -> str:
    """A non-string user value in a message: its repr, quoted within the usual bound."""
    text = repr(value)
    return text if len(text) <= 80 else quoted(text)


def _format_location(location: Location, data: Any) -> str:
    """``widgets[2] (checkout).domains[0]``: the path, with the widget's name when it has one."""
    text = ""
    node = data
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, Mapping) and isinstance(node.get("name"), str):
                text += f" ({excerpt(node['name'])})"
        else:
            shown = excerpt(str(part))
            text += f".{shown}" if text else shown
            node = node.get(part) if isinstance(node, Mapping) else None
    return text


def _model_at(location: Location) -> type[BaseModel] | None:
    """The spec model that owns the mapping at ``location``, to list its allowed keys."""
    if len(location) == 0:
        return Spec
    if location == ("defaults",):
        return WidgetSettings
    if len(location) == 2 and location[0] == "widgets" and isinstance(location[1], int):
        return WidgetSpec
    return None


def _problem_from_pydantic(error: Any, data: Any, positions: _Positions) -> Problem:
    location: Location = tuple(error["loc"])
    line, column = positions.nearest(location)
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(location[:-1])
        allowed = ", ".join(model.model_fields) if model else ""
        message = f"unknown key {quoted(str(location[-1]))}" + (
            f"; allowed keys: {allowed}" if allowed else ""
        )
    elif kind == "missing":
        message = "this field is required"
    else:
        message = error["msg"].removeprefix("Value error, ")
        if kind not in {"value_error"} and not isinstance(error.get("input"), dict | list):
            shown = error["input"]
            message += f" (got {quoted(shown) if isinstance(shown, str) else _bounded(shown)})"
    return Problem(message, _format_location(location, data), line, column)


def _cross_field_problems(data: dict[str, Any], positions: _Positions) -> list[Problem]:
    """Rules that span fields: the hostname limit, and names the file also ignores.

    Read from the raw data, as far as it is well-formed, so these are reported together with
    every other problem rather than only once the rest of the file is fixed.
    """
    problems: list[Problem] = []

    def report(location: Location, message: str) -> None:
        line, column = positions.nearest(location)
        problems.append(Problem(message, _format_location(location, data), line, column))

    raw_limit = data.get("max_domains_per_widget")
    limit: int = FREE_MAX_DOMAINS
    if type(raw_limit) is int and 1 <= raw_limit <= ENTERPRISE_MAX_DOMAINS:
        limit = raw_limit
    limit_hint = (
        "Cloudflare Free allows 10 hostnames per widget; on Enterprise raise "
        "max_domains_per_widget (up to 200)"
    )
    raw_ignore = data.get("ignore")
    patterns = [p for p in raw_ignore if isinstance(p, str)] if isinstance(raw_ignore, list) else []

    entries: list[tuple[Location, Any]] = [(("defaults",), data.get("defaults"))]
    widgets = data.get("widgets")
    if isinstance(widgets, list):
        entries += [(("widgets", index), entry) for index, entry in enumerate(widgets)]
    for location, entry in entries:
        if not isinstance(entry, dict):
            continue
        count = _hostname_count(entry.get("domains"))
        if count > limit:
            report((*location, "domains"), f"{count} hostnames, more than {limit}. {limit_hint}")
        name = entry.get("name")
        if location[0] == "widgets" and isinstance(name, str):
            for pattern in patterns:
                if name_rules.matching(pattern, name) is name_rules.Match.AS_WRITTEN:
                    report(
                        (*location, "name"),
                        f"{quoted(name)} matches ignore pattern {quoted(pattern)}, so it would "
                        "never be "
                        "managed; remove the entry or narrow the pattern",
                    )
    return problems


def _hostname_count(domains: Any) -> int:
    """Distinct valid hostnames; invalid ones are reported on their own."""
    if not isinstance(domains, list):
        return 0
    valid = set()
    for item in domains:
        if isinstance(item, str):
            try:
                valid.add(normalise_hostname(item))
            except ValueError:
                continue
    return len(valid)


def _duplicate_name_problems(data: dict[str, Any], positions: _Positions) -> list[Problem]:
    """Names identify widgets, so two entries with one name are refused, naming both lines.

    Checked on the raw data so it is reported together with any other problem in the file.
    """
    widgets = data.get("widgets")
    if not isinstance(widgets, list):
        return []
    problems: list[Problem] = []
    first_line_of: dict[str, int | None] = {}
    pinned_names = {
        entry.get("name")
        for entry in widgets
        if isinstance(entry, dict) and entry.get("sitekey") is not None
    }
    for index, entry in enumerate(widgets):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            continue
        all_pinned = name in pinned_names and all(
            e.get("sitekey") is not None
            for e in widgets
            if isinstance(e, dict) and e.get("name") == name
        )
        if all_pinned:
            continue  # identity is the sitekey: two live widgets may share a name
        location: Location = ("widgets", index, "name")
        line, column = positions.nearest(location)
        if name in first_line_of:
            message = (
                f"duplicate widget name {quoted(name)} (also on line {first_line_of[name]}); "
                "names identify widgets, so each must be unique in the file unless every "
                "entry with the name pins a 'sitekey:'"
            )
            problems.append(Problem(message, _format_location(location, data), line, column))
        else:
            first_line_of[name] = line
    return problems
