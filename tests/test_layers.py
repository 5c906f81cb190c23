"""The package's layers, read from its source: no module imports one that (through others) imports it,
and the zone engine's pure modules reach neither git nor a process.

Every import statement counts, also one inside a function or under `if TYPE_CHECKING:`: a circle
made of imports deferred to run time is still a circle for whoever reads the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import worktree_agents

PACKAGE = Path(worktree_agents.__file__).parent
PURE = ("worktree_agents.zones.matcher", "worktree_agents.zones.ownership")
RUNS_PROCESSES = ("subprocess", "multiprocessing", "worktree_agents.git")   # modules that start processes


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(outside: bool = False) -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports (`outside`: and the
    other modules it imports, by the names it uses)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = name.split(".")[:len(name.split(".")) - node.level + (1 if is_package else 0)]
                    source = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:   # `from pkg import module` imports the module itself
                    targets.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in files else source)
        graph[name] = {t for t in targets if (outside or t in files) and t != name}
    return graph


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports (its modules, the first repeated at the end), or None."""
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> list[str] | None:
        if node in trail:
            return trail[trail.index(node):] + [node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            circle = visit(target, trail + [node])
            if circle:
                return circle
        done.add(node)
        return None

    for start in sorted(graph):
        circle = visit(start, [])
        if circle:
            return circle
    return None


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert len(graph) > 80 and "worktree_agents.git" in graph   # the whole package was read
    circle = find_circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_check_would_see_a_circle_made_by_a_deferred_import():
    graph = import_graph()
    # git.py imports errors.py; were errors.py to import git inside a function, that is a circle.
    assert "worktree_agents.errors" in graph["worktree_agents.git"]
    graph["worktree_agents.errors"] = graph["worktree_agents.errors"] | {"worktree_agents.git"}
    circle = find_circle(graph)
    assert circle is not None and circle[0] == circle[-1]
    assert set(circle) == {"worktree_agents.errors", "worktree_agents.git"}


def reached(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_zone_engine_reaches_neither_git_nor_a_process():
    graph = import_graph(outside=True)
    for module in PURE:
        found = reached(graph, module)
        assert "worktree_agents.zones.matcher" in found | {module}
        assert not found & set(RUNS_PROCESSES), f"{module} reaches {sorted(found & set(RUNS_PROCESSES))}"
    # The same reading finds them where they are: the hooks' runtime reaches git.
    assert "worktree_agents.git" in reached(graph, "worktree_agents.hooks.runtime")
