"""sqm installs as one namespace, `sqm.*`, mapped from the repository's top-level folders.

pyproject lists the packages by hand (setuptools cannot find packages under a renamed parent),
so a new sub-package left out of the list would be missing from the wheel; and a bare
`import streams...` would still work in a checkout (pytest puts the root on sys.path) while
loading a second copy of the module beside `sqm.streams...`.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("streams", "sinks", "schemas", "dashboards")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_folder_with_an_init_is_a_listed_package() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]
    on_disk = {
        "sqm." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")
    }
    assert set(setuptools["packages"]) == on_disk
    assert setuptools["package-dir"] == {f"sqm.{f}": f for f in FOLDERS}


def test_the_cli_entry_point_is_in_the_namespace() -> None:
    assert _pyproject()["project"]["scripts"]["sqm"] == "sqm.streams.cli:main"


def test_no_module_imports_a_folder_by_its_bare_name() -> None:
    bare = []
    for folder in (*FOLDERS, "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom)
                         and node.level == 0 else [])
                bare += [f"{path.relative_to(ROOT)}:{node.lineno} {n}"
                         for n in names if n.split(".")[0] in FOLDERS]
    assert bare == []


def test_the_installed_package_is_this_checkout() -> None:
    import sqm.streams

    assert Path(sqm.streams.__file__).resolve() == ROOT / "streams" / "__init__.py"


def test_no_module_imports_another_modules_private_names() -> None:
    private = []
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqm."):
                    private += [f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{a.name}"
                                for a in node.names if a.name.startswith("_")]
    assert private == []
