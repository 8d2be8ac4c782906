"""Run a benchmark on the code of the checkout it sits in.

sqm installs as `sqm.<folder>` from the repository's folders, and an editable install maps
`sqm` to the one checkout it was installed from. A benchmark comparing two checkouts
(`--against REV` in a temporary worktree) would otherwise run that one checkout's code twice.
`use(tree)` puts a throwaway folder of symlinks `sqm/<folder> -> tree/<folder>` (as
.ci/typecheck makes for mypy) ahead of the editable install on sys.path, and `env(tree)`
does the same for the subprocesses a benchmark starts. Importing this module does `use` for
the checkout it sits in, so a benchmark only needs `import checkout` before importing sqm.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path

FOLDERS = ("streams", "sinks", "schemas", "dashboards")


@cache
def view(tree: Path) -> Path:
    """A folder where `import sqm.streams` finds TREE's streams/ (removed at exit)."""
    where = Path(tempfile.mkdtemp(prefix="sqm-view-"))
    atexit.register(shutil.rmtree, where, True)
    (where / "sqm").mkdir()
    (where / "sqm" / "__init__.py").touch()
    for folder in FOLDERS:
        (where / "sqm" / folder).symlink_to(tree.resolve() / folder)
    return where


def use(tree: Path) -> None:
    """Import `sqm.*` (and `tests`, `benchmarks`) from TREE in this process."""
    sys.path[:0] = [str(view(tree)), str(tree)]


def env(tree: Path, **extra: str) -> dict[str, str]:
    """The environment for a subprocess that runs TREE's code (`python -m sqm.streams.cli`)."""
    paths = [str(view(tree)), str(tree), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


use(Path(__file__).resolve().parents[1])
