"""Cache keys of the stage tasks: the stage's own config hash plus the version of its code.

The config part comes from `pevl.paths` (each stage's hash already chains its inputs' hashes),
so a changed learning rate changes the train and evaluate keys only. The code part hashes the
source of the stage module and every project module it imports, transitively (found by reading
`import` statements, not by importing). `schemas` is left out: configs are hashed by value.
"""

import ast
import hashlib
import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

PROJECT_PACKAGES = ("pevl", "pose_extraction", "flows")
ROOT = Path(__file__).resolve().parents[1]


def _module_file(name: str, root: Path) -> Path | None:
    """The source file of a project module under root, without importing anything."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_names(tree: ast.AST, package: str) -> set[str]:
    """Absolute names of the modules an AST imports (relative imports resolved against package)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in PROJECT_PACKAGES}


# CPython 3.11's ast.parse is not safe in two threads at once ("AST constructor recursion depth
# mismatch"): the train stage's key is computed while the grid's rows compute theirs (grid beside train).
_PARSE = threading.Lock()


@lru_cache(maxsize=None)
def module_sources(module: str, root: Path = ROOT) -> tuple[Path, ...]:
    """Source files of `module` and of the project modules it imports, transitively, sorted."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name, root)
        if path is None:
            continue
        seen[name] = path
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        with _PARSE:
            tree = ast.parse(path.read_text(), filename=str(path))
        todo.extend(_imported_names(tree, package) - seen.keys())
    return tuple(sorted(set(seen.values())))


def code_version(module: str, root: Path = ROOT) -> str:
    """12-hex hash of the source of `module` and the project modules it imports (files under root)."""
    digest = hashlib.sha256()
    for path in module_sources(module, root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def stage_key(stage: str, config_part: Any, modules: tuple[str, ...], work_dir: str) -> str:
    """The cache key of one stage task: stage name, its config part, code version, work dir."""
    code = [code_version(m) for m in modules]
    blob = json.dumps([stage, config_part, code, work_dir], sort_keys=True, default=str)
    return f"pevl-{stage}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}"


def outputs_present(output: str) -> bool:
    """True when a stage's recorded output folder still exists, is complete (`_COMPLETE`) and its
    files have the sizes its marker recorded."""
    from pevl.storage.integrity import check_outputs
    from pevl.storage.outputs import read_marker

    marker = read_marker(Path(output)) if output else None
    return marker is not None and not check_outputs(Path(output), marker.get("outputs"))
