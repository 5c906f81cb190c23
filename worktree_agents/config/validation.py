"""Validating zones.yaml text: YAML with the place of every node, and every problem as one line.

Each problem (a YAML syntax error, a pydantic error of the schema, a check
across streams) is mapped back to the `file:line:column` of the node that
caused it and worded with the fix. All problems are reported at once.
Imports yaml and pydantic: loading.py reaches it only for a text it has not
validated before.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterator

import yaml
from pydantic import BaseModel, ValidationError

from worktree_agents.config.problems import ConfigError, dotted
from worktree_agents.config.schema import AgentSchema, AgentSettingsSchema, CheckSchema, ConfigSchema, StreamSchema, short


@dataclass(frozen=True)
class _Mark:
    line: int
    column: int


class _Locator:
    """Where each key and value of the YAML document stands."""

    def __init__(self, root: yaml.Node) -> None:
        self.keys: dict[tuple, _Mark] = {}
        self.values: dict[tuple, _Mark] = {}
        self.duplicates: list[tuple[tuple, _Mark, _Mark]] = []
        self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: tuple) -> None:
        self.values[loc] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, _Mark] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
                if name in seen:
                    self.duplicates.append((loc + (name,), seen[name], _mark(key)))
                seen[name] = _mark(key)
                self.keys[loc + (name,)] = _mark(key)
                self._walk(value, loc + (name,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, loc + (i,))

    def where(self, loc: tuple, key: bool = False) -> _Mark:
        """The closest known mark for `loc` (the key itself when `key`)."""
        loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
        if key and loc in self.keys:
            return self.keys[loc]
        while loc:
            if loc in self.values:
                return self.values[loc]
            loc = loc[:-1]
        return self.values.get((), _Mark(1, 1))


def _mark(node: yaml.Node) -> _Mark:
    return _Mark(node.start_mark.line + 1, node.start_mark.column + 1)


_TYPE_NAMES = {
    "string_type": "a string", "int_type": "a whole number", "bool_type": "true or false",
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
    "int_from_float": "a whole number", "float_type": "a number",
}


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading, except that a plain mapping key stays the text it was written as.

    Every key in zones.yaml is a name: a stream called `on`, `no` or `2024` must
    not turn into a boolean or a number.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        self.flatten_mapping(node)
        mapping: dict = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            else:
                raise yaml.constructor.ConstructorError(
                    None, None, "found a list or mapping used as a key", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, filename: str) -> str:
    """One line for a YAML syntax error, at the place to fix and with the fix."""
    problem = (exc.problem or "invalid YAML").strip()
    context = (exc.context or "").strip()
    mark, other = exc.problem_mark, exc.context_mark
    lines = text.splitlines()
    found = lines[mark.line][mark.column:mark.column + 1] if mark and mark.line < len(lines) else ""
    if "\t" in problem or found == "\t":
        problem, fix, other = "tab character in the indentation", "indent with spaces (YAML does not allow tabs)", None
    elif "quoted scalar" in context:
        fix = "close the quote"
        if "end of stream" in problem and other:
            # Point at the opening quote, not at the end of the file.
            problem, mark, other = "quoted string is never closed", other, None
    elif "flow sequence" in context or "flow mapping" in context:
        fix = "close the bracket or brace, and separate items with commas"
    elif "single document" in context:
        fix = "keep one YAML document: remove the `---` line and what follows, or merge them"
    elif "constructor" in problem or "tag" in problem:
        fix = "remove the tag; zones.yaml holds plain strings, numbers, lists and mappings"
    elif "used as a key" in problem:
        fix = "write the key as a plain name"
    elif "alias" in problem or "anchor" in problem:
        fix = "fix the anchor or alias"
    else:
        fix = "fix the indentation (spaces only) or quote the value"
    if mark is None:
        mark, other = other, None
    if context and other is not None and (other.line, other.column) != (mark.line, mark.column):
        problem += f" ({context}, line {other.line + 1} column {other.column + 1})"
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return f"{filename}:{line}:{col}: YAML syntax error: {problem}; {fix}"


def load_yaml(text: str, filename: str) -> tuple[Any, _Locator | None]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_error(exc, text, filename)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{filename}:1:1: YAML error: {exc}; fix the file"]) from None
    finally:
        loader.dispose()
    return data, _Locator(node)


def validate(text: str, filename: str, repo_root: str | None) -> dict[str, Any]:
    """The values of a valid zones.yaml text (`ConfigSchema.model_dump()`); ConfigError with every problem."""
    data, locator = load_yaml(text, filename)
    if data is None or locator is None:
        raise ConfigError([f"{filename}:1:1: the file is empty; write `version: 1` and `streams:` "
                           "(`wta init --force` writes a starter file)"])
    if not isinstance(data, dict):
        mark = locator.where(())
        kind = "a list" if isinstance(data, list) else f"a single value ({short(data)})"
        raise ConfigError([f"{filename}:{mark.line}:{mark.column}: the top level is {kind}; zones.yaml "
                           "must be a mapping with `version: 1` and `streams:`"])
    problems: list[tuple[_Mark, str]] = []
    for loc, first, again in locator.duplicates:
        if len(loc) == 2 and loc[0] == "streams":
            problems.append((again, f"{dotted(loc)}: duplicate stream {loc[1]!r} (first defined at line "
                                    f"{first.line}); rename one of them or merge their paths"))
        else:
            problems.append((again, f"{dotted(loc)}: duplicate key (first at line {first.line}); "
                                    "remove or rename one of them"))
    config = None
    try:
        config = ConfigSchema.model_validate(data, context={"repo_root": repo_root})
    except ValidationError as exc:
        errors = exc.errors()
        misspelt = {_misspelt(error) for error in errors} - {None}
        for error in errors:
            if error["type"] == "missing" and tuple(p for p in error["loc"] if p != "[key]") in misspelt:
                continue   # (`path:` for `paths:`: the unknown key's line says it, with the fix)
            problems.append(_describe(error, locator))
    problems.extend(_cross_check(data, locator))
    if problems:
        problems.sort(key=lambda p: (p[0].line, p[0].column))
        raise ConfigError([f"{filename}:{m.line}:{m.column}: {text}" for m, text in _unique(problems)])
    assert config is not None
    return config.model_dump()


def _unique(problems: list[tuple[_Mark, str]]) -> Iterator[tuple[_Mark, str]]:
    seen = set()
    for mark, text in problems:
        if (mark, text) not in seen:
            seen.add((mark, text))
            yield mark, text


def _known_keys(loc: tuple) -> list[str]:
    """The keys allowed in the mapping at `loc` (for 'did you mean')."""
    model: type[BaseModel] = ConfigSchema
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if model is ConfigSchema and part == "streams":
            if not parts:
                return []
            parts.pop(0)
            model = StreamSchema
        elif model in (ConfigSchema, StreamSchema) and part == "agent":
            model = AgentSchema if model is ConfigSchema else AgentSettingsSchema
        elif model is ConfigSchema and part == "checks":
            if parts:
                parts.pop(0)
            model = CheckSchema
        else:
            return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _near_key(loc: tuple) -> str | None:
    """The known key an unknown one at `loc` is a typo of, if any."""
    near = difflib.get_close_matches(str(loc[-1]), _known_keys(loc[:-1]), n=1, cutoff=0.6)
    return near[0] if near else None


def _misspelt(error: dict) -> tuple | None:
    """For an unknown key, the place of the key it is a typo of (whose `missing` error it explains)."""
    if error["type"] != "extra_forbidden":
        return None
    loc = tuple(p for p in error["loc"] if p != "[key]")
    near = _near_key(loc)
    return (*loc[:-1], near) if near else None


def _describe(error: dict, locator: _Locator) -> tuple[_Mark, str]:
    loc = tuple(p for p in error["loc"] if p != "[key]")
    kind = error["type"]
    where = dotted(loc)
    if kind == "extra_forbidden":
        key, near = str(loc[-1]), _near_key(loc)
        fix = f"did you mean `{near}`?" if near else f"remove it (known keys: {', '.join(_known_keys(loc[:-1]))})"
        return locator.where(loc, key=True), f"{where}: unknown key `{key}`; {fix}"
    if kind == "missing":
        field = str(loc[-1])
        mark = locator.where(loc[:-1])
        if loc == ("version",):
            return _Mark(1, 1), "version: missing; add `version: 1` at the top"
        if field == "paths":
            return mark, f"{where}: missing; give the stream a zone, e.g. `paths: [src/{loc[-2]}/**]`"
        return mark, f"{where}: missing; add `{field}:`"
    mark = locator.where(loc, key=kind.startswith("dict") or "[key]" in error["loc"])
    if kind == "literal_error":
        return mark, f"{where}: {error['input']!r} is not allowed; use {error['ctx']['expected']}"
    if kind == "too_short":
        if loc and loc[-1] == "paths":
            return mark, f"{where}: empty zone; give the stream at least one path pattern"
        if loc == ("streams",):
            return mark, "streams: no streams; define at least one stream with `paths:`"
        return mark, f"{where}: must not be empty"
    if kind == "greater_than_equal":
        return mark, f"{where}: {error['input']!r} is too small; use {error['ctx']['ge']} or more"
    if kind == "less_than_equal":
        return mark, f"{where}: {error['input']!r} is too large; use at most {error['ctx']['le']}"
    if kind in _TYPE_NAMES:
        got = type(error["input"]).__name__ if error["input"] is not None else "nothing"
        fix = f"write it as {_TYPE_NAMES[kind]}"
        if kind == "string_type" and isinstance(error["input"], (bool, int, float)):
            # YAML turned a bare word or number into something else (`on` is true, `2024` a number).
            fix = "put it in quotes (YAML reads bare yes/no/on/off/true/false and numbers as non-strings)"
        return mark, f"{where}: expected {_TYPE_NAMES[kind]}, got {got} ({short(error['input'])}); {fix}"
    if kind == "value_error":
        message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        if "[key]" in error["loc"] or (loc and loc[:1] == ("streams",) and len(loc) == 2):
            mark = locator.where(loc, key=True)
        return mark, f"{where}: {message}"
    return mark, f"{where}: {error['msg']}; fix the value"


def _cross_check(data: dict, locator: _Locator) -> list[tuple[_Mark, str]]:
    """Checks across streams: `after` references and cycles, prompt sources."""
    problems: list[tuple[_Mark, str]] = []
    streams = data.get("streams")
    if not isinstance(streams, dict):
        return problems
    edges: dict[str, list[str]] = {}
    for name, body in streams.items():
        if not isinstance(body, dict):
            continue
        after = body.get("after", [])
        if not isinstance(after, list):
            continue
        edges[str(name)] = []
        for i, dep in enumerate(after):
            loc = ("streams", name, "after", i)
            if not isinstance(dep, str):
                continue
            if dep == name:
                problems.append((locator.where(loc), f"{dotted(loc)}: stream {name!r} cannot come after "
                                                     "itself; remove it"))
            elif dep not in streams:
                near = difflib.get_close_matches(dep, [str(s) for s in streams], n=1)
                fix = f"did you mean {near[0]!r}?" if near else "name one of the streams defined in `streams:`"
                problems.append((locator.where(loc), f"{dotted(loc)}: unknown stream {dep!r}; {fix}"))
            else:
                edges[str(name)].append(dep)
        if body.get("prompt") is not None and body.get("prompt_file") is not None:
            loc = ("streams", name, "prompt_file")
            problems.append((locator.where(loc, key=True), f"{dotted(loc)}: both `prompt` and `prompt_file` are "
                                                           "set; keep one"))
    problems += _prefix_beside_the_base(data, locator) + _duplicate_check_names(data, locator)
    port = data.get("base_port", 4100)
    if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535 < port + len(streams) - 1:
        loc = ("base_port",)
        problems.append((locator.where(loc), f"base_port: {port} leaves no port for the last of {len(streams)} "
                                             f"streams (WTA_PORT = base_port + i, at most 65535); set it to "
                                             f"{65536 - len(streams)} or lower"))
    cycle = _find_cycle(edges)
    if cycle:
        loc = ("streams", cycle[0], "after")
        problems.append((locator.where(loc, key=True), f"{dotted(loc)}: `after` forms a cycle "
                                                       f"({' -> '.join(cycle + [cycle[0]])}); remove one of these edges"))
    return problems


def _duplicate_check_names(data: dict, locator: _Locator) -> list[tuple[_Mark, str]]:
    """A check's name is its alert's and its log file's (`<common>/wta/checks/<name>.log`): two of one name
    would share both, and which one failed could not be told."""
    checks = data.get("checks")
    first: dict[str, int] = {}
    problems = []
    for i, check in enumerate(checks if isinstance(checks, list) else []):
        name = check.get("name") if isinstance(check, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            loc = ("checks", i, "name")
            problems.append((locator.where(loc), f"{dotted(loc)}: {name!r} is the name of checks[{first[name]}] "
                                                 "too (their alerts and logs would be one); rename one of them"))
        else:
            first[name] = i
    return problems


def _prefix_beside_the_base(data: dict, locator: _Locator) -> list[tuple[_Mark, str]]:
    """A sandboxed agent may write the folder of git's ref files that holds its branch (git makes a lock
    file there to move it). With a branch_prefix that has no folder of its own (`agent-`), or a base
    inside it, that folder holds the base too, which the agent could then move."""
    prefix, base = data.get("branch_prefix", "wta/"), data.get("base")
    if data.get("sandbox", "auto") in ("off", False) or not isinstance(prefix, str):
        return []
    folder = prefix.rpartition("/")[0]
    if not folder:
        loc = ("branch_prefix",)
        return [(locator.where(loc), f"branch_prefix: {prefix!r} puts the streams' branches beside the base in "
                                     f"refs/heads/, where a sandboxed agent could move the base; end it with a "
                                     f"folder of their own, e.g. {prefix.rstrip('-_') or 'wta'}/")]
    if isinstance(base, str) and base.startswith(folder + "/"):
        loc = ("base",)
        return [(locator.where(loc), f"base: {base!r} lies in {folder}/, the folder of the streams' branches, "
                                     "where a sandboxed agent could move it; pick a base outside it, or another "
                                     "branch_prefix")]
    return []


def _find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in edges.get(node, []):
            if state.get(dep) == 1:
                return stack[stack.index(dep):]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        state[node] = 2
        stack.pop()
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


