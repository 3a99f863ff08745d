"""The layout's rules, tested (docs/architecture.md):

- one direction of arrows: the import graph of ``ssmbench`` has no cycle, follows the layers
  scan/discretize/timing -> models/prob -> tasks/train -> harness, never imports ``theory`` or
  ``experiments``, and imports no ssmbench module inside a function;
- no source file over 500 lines;
- equinox's abstract/final pattern for every Module of the library;
- one spelling (-ize) in public names;
- the wheel installs only ``ssmbench``; nothing in the package writes into the package.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import tomllib
from pathlib import Path

import equinox as eqx
import pytest

import ssmbench

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "ssmbench"
MAX_LINES = 500

#: Layer of each top-level part of the package; an import may only point to a lower layer or
#: stay inside its own part.
LAYERS = {
    "_version": 0,
    "_validate": 0,
    "scan": 1,
    "discretize": 1,
    "timing": 1,
    "models": 2,
    "prob": 2,
    "tasks": 3,
    "train": 3,
    "harness": 4,
    "sbi": 4,  # simulation-based inference: trains its flows through ssmbench.train
    "dsr": 4,  # dynamical-system reconstruction: trains through ssmbench.train
    "__init__": 5,
    "__main__": 5,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(absolute module imported, inside a function?, line) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []

    def visit(node, in_fn):
        for child in ast.iter_child_nodes(node):
            fn = in_fn or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                out.extend((a.name, in_fn, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                out.append((target, in_fn, child.lineno))
                # `from . import x` may name a submodule
                for a in child.names:
                    sub = f"{target}.{a.name}"
                    if (ROOT / Path(*sub.split("."))).with_suffix(".py").exists() or (
                        ROOT / Path(*sub.split(".")) / "__init__.py"
                    ).exists():
                        out.append((sub, in_fn, child.lineno))
            visit(child, fn)

    visit(tree, False)
    return out


def _sources(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py") if ".venv" not in p.parts)


def _part(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_import_graph_has_one_direction_and_no_cycle():
    graph: dict[str, set[str]] = {}
    problems = []
    for path in _sources("ssmbench"):
        mod = _module_name(path)
        graph.setdefault(mod, set())
        for target, in_fn, line in _imports(path):
            top = target.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line}"
            if top in ("theory", "experiments", "tests", "benchmarks"):
                problems.append(f"{where} imports {target}: the library never imports {top}")
            if top != "ssmbench":
                continue
            if in_fn:
                problems.append(f"{where} imports {target} inside a function")
            if target == "ssmbench" and mod != "ssmbench":
                problems.append(f"{where} imports the package root from inside the package")
            src, dst = _part(mod), _part(target)
            if dst not in LAYERS or src not in LAYERS:
                problems.append(f"{where}: {mod} -> {target}: part not in the layer table")
            elif src != dst and LAYERS[dst] >= LAYERS[src]:
                problems.append(f"{where}: {src} (layer {LAYERS[src]}) imports {dst} "
                                f"(layer {LAYERS[dst]}); arrows point down only")  # fmt: skip
            graph[mod].add(target)
    assert not problems, "\n".join(problems)
    # a module importing ``a.b.c`` also runs the packages ``a.b`` and ``a``
    edges = {m: {t for t in ts if t in graph and t != m} for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t) :] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in state:
                dfs(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            dfs(m)


def test_no_source_file_over_the_limit():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _sources("ssmbench", "theory", "experiments", "benchmarks")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_no_code_under_results():
    assert not list((ROOT / "results").rglob("*.py"))


def test_wheel_installs_only_ssmbench():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["ssmbench"]


def test_nothing_in_the_package_writes_into_the_package():
    for path in _sources("ssmbench"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if "__file__" in line:
                assert not re.search(r"write|open\(.*[\"'][wa]", line), f"{path}:{i}: {line}"


def _library_modules():
    mods = []
    for info in pkgutil.walk_packages(ssmbench.__path__, "ssmbench."):
        if info.name.endswith("__main__"):
            continue
        mods.append(importlib.import_module(info.name))
    return mods


def _library_classes() -> list[type]:
    seen = {}
    for mod in _library_modules():
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__.startswith("ssmbench.") and issubclass(cls, eqx.Module):
                seen[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(seen.values())


def _is_abstract(cls: type) -> bool:
    return cls.__name__.lstrip("_").startswith("Abstract")


def test_modules_follow_the_abstract_final_pattern():
    """Every Module is abstract (named Abstract*) or final (never subclassed); abstract classes
    hold no fields and no __init__; no class overrides a concrete method of a library base."""
    classes = _library_classes()
    assert len(classes) > 10
    problems = []
    for cls in classes:
        bases = [b for b in cls.__mro__[1:] if b.__module__.startswith("ssmbench.")]
        for b in bases:
            if not _is_abstract(b):
                problems.append(f"{cls.__qualname__} subclasses the final class {b.__qualname__}")
        if _is_abstract(cls):
            own = [f for f in cls.__dict__.get("__annotations__", {}) if not f.startswith("__")]
            fields = [
                f
                for f in own
                if "AbstractVar" not in str(cls.__annotations__[f])
                and "AbstractClassVar" not in str(cls.__annotations__[f])
            ]
            if fields:
                problems.append(f"abstract {cls.__qualname__} declares fields {fields}")
            init = cls.__dict__.get("__init__")
            # equinox puts a generated dataclass __init__ (compiled from "<string>") in every class
            if (
                init is not None
                and getattr(init, "__code__", None) is not None
                and (init.__code__.co_filename != "<string>")
            ):
                problems.append(f"abstract {cls.__qualname__} defines __init__")
        for name, attr in cls.__dict__.items():
            if name.startswith("__") or not callable(attr) and not isinstance(attr, property):
                continue
            for b in bases:
                base_attr = b.__dict__.get(name)
                if base_attr is None:
                    continue
                target = base_attr.fget if isinstance(base_attr, property) else base_attr
                if not getattr(target, "__isabstractmethod__", False):
                    problems.append(
                        f"{cls.__qualname__}.{name} overrides the concrete {b.__qualname__}.{name}"
                    )
    assert not problems, "\n".join(problems)


_BRITISH = re.compile(
    r"(normalis|discretis|summaris|parameteris|linearis|materialis|initialis|optimis|"
    r"standardis|regularis|rematerialis|characteris|generalis)",
    re.IGNORECASE,
)


@pytest.mark.parametrize("mod", _library_modules(), ids=lambda m: m.__name__)
def test_public_names_use_one_spelling(mod):
    names = [n for n in vars(mod) if not n.startswith("_")]
    for n, obj in vars(mod).items():
        if inspect.isclass(obj) and obj.__module__ == mod.__name__:
            names += [f"{n}.{m}" for m in vars(obj) if not m.startswith("_")]
    bad = [n for n in names if _BRITISH.search(n)]
    assert not bad, f"{mod.__name__}: use the -ize spelling in public names: {bad}"
