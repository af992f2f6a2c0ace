"""The package's layers: dependencies point one way, and an architecture is one folder.

Imports are read from the source (module level and inside functions alike), so
a lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from registry.architectures import allowlist
from tests.conftest import REPO

PACKAGE = REPO / "registry"
ARCHITECTURES = PACKAGE / "architectures"
# What model code may not know about: files, databases, servers, the user's shell.
ABOVE_ARCHITECTURES = ("preset", "catalog", "resolver", "client", "cli", "lockfile")


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _part(module: str) -> str | None:
    """The folder (or top-level module) of `registry` that `module` belongs to."""
    parts = module.split(".")
    if parts[0] != "registry" or len(parts) < 2:
        return None
    return parts[1]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative == Path("__init__.py"):
            continue  # the composition root wires the layers together
        source = relative.parts[0].removesuffix(".py")
        for module in _imports(path):
            target = _part(module)
            if target is not None and target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def test_architectures_import_nothing_above_them() -> None:
    offending = [
        f"{path.relative_to(REPO)} imports {module}"
        for path in ARCHITECTURES.rglob("*.py")
        for module in _imports(path)
        if _part(module) in ABOVE_ARCHITECTURES or module.split(".")[0] == "web"
    ]
    assert offending == []


def test_no_import_cycle_among_the_packages_folders() -> None:
    graph = _graph()
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            else:
                visit(target, [*path, target])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []


def _names_in_code(path: Path) -> set[str]:
    """Identifiers, imported names and string constants of a module (not docstrings)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name.rsplit(".", 1)[-1])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.update(() if id(node) in docstrings else (node.value,))
    return names


def test_outside_its_folder_no_code_names_an_architecture() -> None:
    folders = {
        ARCHITECTURES / Path(spec.backbone_module.split(".")[2])
        for spec in allowlist.specs().values()
    }
    # The bundled demo preset is a GPT-2 by definition: its generator builds one.
    allowed = {PACKAGE / "preset" / "demo.py"}
    classes = set(allowlist.specs())
    offending = {
        f"{path.relative_to(REPO)}: {sorted(classes & _names_in_code(path))}"
        for root in (PACKAGE, REPO / "web")
        for path in root.rglob("*.py")
        if not any(folder in path.parents for folder in folders)
        and path not in allowed
        and classes & _names_in_code(path)
    }
    assert offending == set()


def test_every_folder_with_a_spec_is_on_the_allow_list() -> None:
    folders = sorted(p.parent.name for p in ARCHITECTURES.glob("*/spec.py"))
    on_list = sorted(spec.backbone_module.split(".")[2] for spec in allowlist.specs().values())
    assert folders == on_list and len(folders) >= 4


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports (a package's `__init__` counts
    as the package; `from package import name` is the submodule if there is one)."""
    paths = [*PACKAGE.rglob("*.py"), *(REPO / "web").rglob("*.py")]
    modules = {_module_name(path): path for path in paths}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    targets.add(child if child in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        targets &= set(modules) - {module}
    return graph


def test_no_import_cycle_among_modules() -> None:
    """Within `registry/` and `web/`, no module imports (even lazily) a module
    that imports it back, through any chain."""
    graph = _module_graph()
    cycles: set[tuple[str, ...]] = set()
    finished: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph[node]):
            if target in path:
                cycle = path[path.index(target) :]
                first = cycle.index(min(cycle))
                cycles.add(tuple(cycle[first:] + cycle[:first]))
            elif target not in finished:
                visit(target, [*path, target])
        finished.add(node)

    for start in sorted(graph):
        visit(start, [start])
    assert sorted(cycles) == []


def test_benchmarks_import_the_installed_project() -> None:
    """Scripts of bench/ reach their siblings (their folder is on sys.path), so
    none may be named like a package of the project, and none puts the source
    tree ahead of the installed project."""
    scripts = list((REPO / "bench").glob("*.py"))
    assert {p.stem for p in scripts} & {"registry", "web", "tests", "migrations"} == set()
    for path in scripts:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "sys.path.insert":
                where = ast.unparse(node.args[1])  # bench/ itself is fine; the repository is not
                assert not any(root in where for root in ("REPO", "parents[", "parent.parent")), (
                    f"{path.name} puts {where} on sys.path"
                )
