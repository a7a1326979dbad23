"""YAML → Spec, with every problem reported at its file:line:column, all at once.

PyYAML's constructors throw away positions, so the document is composed into nodes first and
turned into plain data here, keeping the position of every key and list item. Duplicate keys,
which plain ``yaml.safe_load`` silently resolves to the last one, are refused: in a spec they
are almost always a copy-paste mistake that would otherwise change a widget unnoticed.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from turnstile_sync import name_rules, spec_messages
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
from turnstile_sync.widget_keys import widget_key

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (10x faster on large specs), else the Python one.
Both only build plain data, and both give every node its line and column."""

__all__ = ["SPEC_SIZE_CAP", "LoadedSpec", "load_spec", "load_spec_text", "printable"]

Location = tuple[str | int, ...]
MAX_NODES = 400_000
"""More values than a spec within the size cap needs; stops "billion laughs" alias bombs.

Measured: the largest plain spec under the 2 MB cap (28,000 widgets of name, mode and one
hostname) has 224,007 values, and 1,364 Enterprise widgets of 200 short hostnames each have
282,355. Above that only filler (``[a,a,a,...]``) fits, whose every value is a problem, so a
higher budget would only buy seconds and gigabytes spent on reporting it."""
MAX_DEPTH = 64
"""Deeper than any spec (which nests four levels); checked on the event stream before the
document is composed, since libyaml's composer recurses on the C stack and a few tens of
thousands of '[' would overflow it."""
MAX_ENTRIES = 1_000
"""Most items read from one 'domains', 'ignore' or 'protected' list. Cloudflare allows 200
hostnames per widget; a longer list is one problem instead of one per item, and bounds the
ignore-patterns-by-widgets check."""
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
    written: dict[Location, str] = field(default_factory=dict)
    """Scalars YAML read as something other than text (``0x4AAA`` an integer, ``yes`` true),
    as written, so a message can quote what the file says and suggest quoting it."""

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
    problems += _overlong_list_problems(data, positions)
    problems += _duplicate_name_problems(data, positions)
    problems += _cross_field_problems(data, positions)
    spec = _validated(data, positions, problems)
    if spec is None or problems:
        raise SpecError(source, _bounded_problems(problems))
    lines = tuple(positions.nearest(("widgets", index))[0] for index in range(len(spec.widgets)))
    key_lines = {
        location[0]: mark[0]
        for location, mark in positions.marks.items()
        if len(location) == 1 and isinstance(location[0], str)
    }
    return LoadedSpec(spec=spec, source=source, widget_lines=lines, key_lines=key_lines)


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda problem: (problem.line or 0, problem.column or 0))


def _bounded_problems(problems: list[Problem]) -> list[Problem]:
    """The problems in file order, after one saying validation stopped, if it did: first, so
    it is read even when the message lists only the first problems."""
    ordered = _in_file_order([p for p in problems if p is not _STOPPED])
    return [_STOPPED, *ordered] if any(p is _STOPPED for p in problems) else ordered


MAX_PROBLEMS = 1_000
"""Once this many problems are found, no further widget is validated. A file whose every value
is wrong (400,000 of them fit in the size cap) would otherwise take seconds and a gigabyte to
describe, one problem at a time, to no one's benefit."""
_STOPPED = Problem(
    f"validation stopped after the first {MAX_PROBLEMS:,} problems (below); fix these and "
    "validate again"
)


def _validated(data: dict[str, Any], positions: _Positions, problems: list[Problem]) -> Spec | None:
    """The Spec, or None with the problems added. Widgets are validated one at a time, so
    validation stops once MAX_PROBLEMS are found instead of building every error first."""
    widgets = data.get("widgets")
    entries: list[Any] = widgets if isinstance(widgets, list) else []
    rest = {**data, "widgets": []} if isinstance(widgets, list) else data
    failed = False
    try:
        spec = Spec.model_validate(rest)
    except ValidationError as error:
        problems += [_problem_from_pydantic(item, data, positions) for item in error.errors()]
        failed = True
    valid: list[WidgetSpec] = []
    for index, entry in enumerate(entries):
        if len(problems) >= MAX_PROBLEMS:
            problems.append(_STOPPED)
            return None
        try:
            valid.append(WidgetSpec.model_validate(entry))
        except ValidationError as error:
            for item in error.errors():
                item["loc"] = ("widgets", index, *item["loc"])
                problems.append(_problem_from_pydantic(item, data, positions))
            failed = True
    if failed:
        return None
    return spec.model_copy(update={"widgets": tuple(valid)}) if entries else spec


def _check_depth(text: str) -> None:
    """Refuse a document nesting deeper than MAX_DEPTH, or with more than MAX_NODES values
    as written, before it is composed.

    libyaml's composer builds nodes recursively on the C stack, so ``[[[[...`` tens of
    thousands deep crashes the process (a segfault, not an exception). Its parser, which this
    walks, produces events iteratively in constant stack, so counting collection starts and
    ends here is safe at any depth."""
    depth = 0
    values = 0
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    for event in yaml.parse(text, Loader=_Loader):
        kind = type(event)
        mark: Any = event.start_mark  # libyaml's Mark, which refuse() reports like PyYAML's
        if kind is yaml.ScalarEvent:
            values += 1
        elif kind in starts:
            values += 1
            depth += 1
            if depth > MAX_DEPTH:
                _Positions.refuse(f"the document nests deeper than {MAX_DEPTH} levels", mark)
        elif kind in ends:
            depth -= 1
            continue
        if values > MAX_NODES:  # refused before composing: composing it is the slow part
            _Positions.refuse(f"the document has more than {MAX_NODES:,} values", mark)


def _parse_yaml(text: str, positions: _Positions, problems: list[Problem]) -> Any:
    loader = _Loader(text)
    try:
        _check_depth(text)
        node = loader.get_single_node()
        if node is None:
            return None
        return _to_data(node, (), loader, positions, problems)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problems.append(
            Problem(spec_messages.yaml_message(error, text, line, column), "", line, column)
        )
        return None
    except yaml.reader.ReaderError as error:
        line, column = _position_of(text, error.character)
        problems.append(Problem(spec_messages.reader_message(error), "", line, column))
        return None
    except yaml.YAMLError as error:
        problems.append(Problem(f"invalid YAML: {error}"))
        return None
    finally:
        loader.dispose()


def _position_of(text: str, character: object) -> tuple[int | None, int | None]:
    """Line and column of the first occurrence of a character YAML refused (its reader gives
    an offset that is in bytes or characters depending on the loader)."""
    found = chr(character) if isinstance(character, int) else character
    index = text.find(found) if isinstance(found, str) and found else -1
    if index < 0:
        return None, None
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _to_data(
    node: yaml.Node,
    location: Location,
    loader: Any,
    positions: _Positions,
    problems: list[Problem],
) -> Any:
    positions.add(location, node.start_mark)
    if type(node) is yaml.ScalarNode:
        if node.tag != _STR_TAG:
            positions.written[location] = node.value
        return _scalar(node, location, loader, problems)
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


def _construct(node: yaml.ScalarNode, loader: Any) -> Any:
    """A scalar's value; strings (nearly every scalar of a spec) without the constructor's
    overhead, which is most of the time a large spec takes."""
    if node.tag == _STR_TAG:
        return node.value
    return loader.construct_object(node, deep=True)


_KINDS = {
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:binary": "base64 data",
}


def _scalar(node: yaml.ScalarNode, location: Location, loader: Any, problems: list[Problem]) -> Any:
    """A scalar's value, or None with a problem at the scalar when it cannot be read.

    PyYAML's constructors raise plain ValueError, KeyError or AttributeError on values such
    as ``2024-02-30``, ``!!int abc`` or a 5,000-digit integer; those are mistakes in the
    file, so they are reported where they are written, like any other, not as a crash."""
    try:
        return _construct(node, loader)
    except yaml.MarkedYAMLError:
        raise
    except Exception as error:  # any failure to read a value is a mistake in the file
        kind = _KINDS.get(node.tag, f"{quoted(node.tag)}")
        # A ValueError says what is wrong ("day is out of range for month"); the KeyError or
        # AttributeError of a malformed '!!bool' or '!!timestamp' only says how PyYAML failed.
        reason = str(error) if isinstance(error, ValueError) else "not a value of this type"
        problems.append(
            Problem(
                f"cannot read {quoted(node.value, 40)} as {kind}: {excerpt(reason)}",
                _format_location(location, {}),
                node.start_mark.line + 1,
                node.start_mark.column + 1,
            )
        )
        return None


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
        if type(key_node) is not yaml.ScalarNode or key_node.tag != _STR_TAG:
            continue  # reported below; a collection is never built: it may be an alias bomb
        key = key_node.value
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
    pairs = _merged(node, positions, {}, 0) if merges else node.value
    result: dict[Any, Any] = {}
    for key_node, value_node in pairs:
        if type(key_node) is not yaml.ScalarNode:
            kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
            problems.append(_key_problem(f"keys must be strings, got {kind}", location, key_node))
            continue
        reported = len(problems)
        key = _scalar(key_node, location, loader, problems)
        if not isinstance(key, str):
            if len(problems) == reported:  # None from _scalar after it reported is not a key
                got = "null (an empty key, '~' or 'null')" if key is None else _bounded(key)
                problems.append(
                    _key_problem(f"keys must be strings, got {got}", location, key_node)
                )
            continue
        positions.add((*location, key), key_node.start_mark)
        result[key] = _to_data(value_node, (*location, key), loader, positions, problems)
    return result


def _key_problem(message: str, location: Location, key_node: yaml.Node) -> Problem:
    mark = key_node.start_mark
    return Problem(message, _format_location(location, {}), mark.line + 1, mark.column + 1)


Pairs = list[tuple[yaml.Node, yaml.Node]]
_MERGING: Pairs = []
"""Marks a mapping whose merges are being resolved: meeting it again means a cycle."""


def _merged(
    node: yaml.MappingNode, positions: _Positions, done: dict[int, Pairs], depth: int
) -> Pairs:
    """The mapping's key/value pairs with its '<<' merge keys resolved, as YAML's merge key
    defines: the mapping's own keys win, then earlier merged mappings over later ones.

    PyYAML's ``flatten_mapping`` concatenates every merged pair, duplicates included, and
    recurses without a limit: ten mappings that each merge the previous one ten times reach
    10**10 pairs before anything is counted, and a mapping merging itself never ends. Here a
    key overridden is dropped as soon as it is met (so no result is longer than the distinct
    keys in the file), each mapping is flattened once, and merge chains are bounded."""
    if id(node) in done:
        if done[id(node)] is _MERGING:
            positions.refuse(
                "a merge key ('<<') refers to a mapping that contains it (recursive alias)",
                node.start_mark,
            )
        return done[id(node)]
    if depth > MAX_DEPTH:
        positions.refuse(f"merge keys ('<<') nest deeper than {MAX_DEPTH} levels", node.start_mark)
    done[id(node)] = _MERGING
    own: Pairs = []
    sources: list[yaml.MappingNode] = []
    for key_node, value_node in node.value:
        if key_node.tag != _MERGE_TAG:
            own.append((key_node, value_node))
        elif isinstance(value_node, yaml.MappingNode):
            sources.append(value_node)
        elif isinstance(value_node, yaml.SequenceNode) and all(
            isinstance(item, yaml.MappingNode) for item in value_node.value
        ):
            sources += value_node.value
        else:
            positions.refuse(
                "a merge key ('<<') takes a mapping or a list of mappings", value_node.start_mark
            )
    result: Pairs = []
    taken: set[Any] = set()
    for source_pairs in [own, *(_merged(s, positions, done, depth + 1) for s in sources)]:
        for key_node, value_node in source_pairs:
            identity = (
                (key_node.tag, key_node.value)
                if type(key_node) is yaml.ScalarNode
                else id(key_node)
            )
            if identity in taken:
                continue
            taken.add(identity)
            result.append((key_node, value_node))
    done[id(node)] = result
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
    """One pydantic error as a Problem at its file:line:column, worded by spec_messages."""
    location: Location = tuple(error["loc"])
    line, column = positions.nearest(location)
    if error["type"] == "extra_forbidden":
        model = _model_at(location[:-1])
        allowed = list(model.model_fields) if model else []
        message = spec_messages.unknown_key_message(str(location[-1]), allowed)
    else:
        names = [part for part in location if isinstance(part, str)]
        offence = spec_messages.Offence(
            type=error["type"],
            field=names[-1] if names else "",
            value=error.get("input"),
            written=positions.written.get(location),
            in_list=bool(location) and isinstance(location[-1], int),
            ctx=error.get("ctx") or {},
            library_message=error["msg"],
        )
        message = spec_messages.pydantic_message(offence)
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
    ignored_by = _IgnoreRules(patterns)

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
            pattern = ignored_by.first(name)
            if pattern is not None:
                report(
                    (*location, "name"),
                    f"{quoted(name)} matches ignore pattern {quoted(pattern)}, so it would "
                    "never be managed; remove the entry or narrow the pattern",
                )
    return problems


class _IgnoreRules:
    """Which 'ignore' pattern, as written, covers a widget name: the first one, so a name is
    one problem however many patterns cover it.

    Matching every pattern against every name is patterns x widgets calls to fnmatch, which
    recompiles once its cache is exceeded; instead a name equal to a pattern is looked up in
    a dict (patterns without glob characters match only so), and the glob patterns are tried
    together as one compiled expression before any is tried alone."""

    def __init__(self, patterns: list[str]) -> None:
        self.literal: dict[str, int] = {}
        self.globs: list[tuple[int, str]] = []
        for index, pattern in enumerate(patterns):
            self.literal.setdefault(pattern, index)  # equal to the name: a match even as a glob
            if any(character in pattern for character in "*?["):
                self.globs.append((index, pattern))
        self.patterns = patterns
        self.any_glob = (
            re.compile("|".join(f"(?:{fnmatch.translate(p)})" for _, p in self.globs))
            if self.globs
            else None
        )

    def first(self, name: str) -> str | None:
        found = self.literal.get(name)
        if self.any_glob is not None and self.any_glob.match(name):
            for index, pattern in self.globs:
                if found is not None and index > found:
                    break
                if name_rules.matching(pattern, name) is name_rules.Match.AS_WRITTEN:
                    found = index
                    break
        return None if found is None else self.patterns[found]


def _overlong_list_problems(data: dict[str, Any], positions: _Positions) -> list[Problem]:
    """A 'domains', 'ignore' or 'protected' list longer than MAX_ENTRIES is one problem, and is
    then left out of validation, so a 1,000,000-item list (or one alias of a long list used by
    every widget) is not a million problems, and ignore patterns are not tried by the
    million against every name."""
    problems: list[Problem] = []

    def check(owner: dict[str, Any], key: str, location: Location, what: str) -> None:
        value = owner.get(key)
        if isinstance(value, list) and len(value) > MAX_ENTRIES:
            line, column = positions.nearest(location)
            message = f"{len(value):,} {what}; at most {MAX_ENTRIES:,} are read"
            problems.append(Problem(message, _format_location(location, data), line, column))
            del owner[key]

    check(data, "ignore", ("ignore",), "patterns")
    check(data, "protected", ("protected",), "entries")
    entries: list[tuple[Location, Any]] = [(("defaults",), data.get("defaults"))]
    widgets = data.get("widgets")
    if isinstance(widgets, list):
        entries += [(("widgets", index), entry) for index, entry in enumerate(widgets)]
    for location, entry in entries:
        if isinstance(entry, dict):
            check(entry, "domains", (*location, "domains"), "hostnames (Cloudflare allows 200)")
    return problems


def _hostname_count(domains: Any) -> int:
    """Distinct valid hostnames; invalid ones are reported on their own."""
    if not isinstance(domains, list):
        return 0
    valid = set()
    for item in set(domains) if all(isinstance(item, str) for item in domains) else domains:
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
    unpinned_names = {
        entry.get("name")
        for entry in widgets
        if isinstance(entry, dict)
        and entry.get("sitekey") is None
        and isinstance(entry.get("name"), str)  # a list or mapping is reported, not hashed
    }  # one pass, so 24,000 entries sharing a name are not compared pairwise
    for index, entry in enumerate(widgets):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            continue
        if name not in unpinned_names:
            continue  # every entry with the name pins a sitekey: identity is the sitekey
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


def widget_key_problems(loaded: LoadedSpec) -> list[Problem]:
    """Names whose identifier (widget_keys) is empty or shared with another name.

    Secrets and sitekeys are delivered under that identifier, so two names sharing one would
    overwrite each other in the store. Only commands that deliver or output by identifier
    refuse these (see ``require_widget_keys``); any other spec may use such names (a team
    naming widgets in Japanese, or an exported account with both "Login" and "login").
    Entries sharing one name (pinned twins) share its identifier.
    """
    problems: list[Problem] = []
    first_by_key: dict[str, tuple[str, int | None]] = {}
    for index, (widget, line) in enumerate(
        zip(loaded.spec.widgets, loaded.widget_lines, strict=True)
    ):
        where = f"widgets[{index}] ({printable(widget.name)}).name"
        key = widget_key(widget.name)
        if not key:
            message = (
                f"widget name {quoted(widget.name)} has no letters or digits A-Z/0-9, so it has "
                "no identifier for TURNSTILE_WIDGET_KEY or sitekey outputs; add some"
            )
        elif key in first_by_key and first_by_key[key][0] != widget.name:
            other, other_line = first_by_key[key]
            message = (
                f"widget names {quoted(widget.name)} and {quoted(other)} (line {other_line}) "
                f"share the identifier {key}, used for TURNSTILE_WIDGET_KEY and sitekey "
                "outputs; rename one"
            )
        else:
            first_by_key.setdefault(key, (widget.name, line))
            continue
        problems.append(Problem(message, where, line))
    return problems


def require_widget_keys(loaded: LoadedSpec, purpose: str) -> None:
    """Refuse, before anything is changed, a spec whose names cannot be delivered by
    identifier; ``purpose`` (e.g. "--secrets-exec") says why identifiers are needed."""
    problems = widget_key_problems(loaded)
    if problems:
        reason = Problem(f"{purpose} uses each widget's identifier, and these names have none:")
        raise SpecError(loaded.source, [reason, *problems])
