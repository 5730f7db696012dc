"""The code keeps the floor plan of docs/README.md ("Where things live"): no import runs up a floor,
and no modules import each other in a circle, counting imports inside functions."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "pose_extraction", "pevl", "flows", "benchmarks", "scripts")
BESIDE_FLOWS = ("benchmarks/", "scripts/")  # not in the table: they stand on the floor of flows/


def floor_table() -> list[list[str]]:
    """The table's first column, bottom-up: per row, the folders and files it names."""
    text = (ROOT / "docs" / "README.md").read_text()
    section = text.split("### Where things live", 1)[1].split("\n\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.findall(r"`([^`]+)`", row.split("|")[1]) for row in rows]


def module_files() -> dict[str, Path]:
    """Every project module (dotted name -> file), tests left out."""
    mods = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def imports(path: Path, mods: dict[str, Path]) -> set[tuple[str, int]]:
    """(project module, line) of every import in a file, those inside functions included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in mods:
                name = name.rpartition(".")[0]
            if name:
                found.add((name, node.lineno))
    return found


def floor_of(path: Path, table: list[list[str]]) -> int:
    """The table row a file stands on (the longest entry that holds it)."""
    rel = path.relative_to(ROOT).as_posix()
    if rel.startswith(BESIDE_FLOWS):
        rel = "flows/"
    matches = [(len(entry), i) for i, row in enumerate(table) for entry in row
               if rel == entry or (entry.endswith("/") and rel.startswith(entry))]
    assert matches, f"{rel} stands on no floor of docs/README.md's 'Where things live' table"
    return max(matches)[1]


def test_the_table_names_only_what_exists():
    table = floor_table()
    assert len(table) >= 10
    for entry in (e for row in table for e in row):
        assert (ROOT / entry).exists(), f"docs/README.md names {entry}, which does not exist"


def test_no_import_runs_up_a_floor():
    table, mods = floor_table(), module_files()
    upward = []
    for name, path in mods.items():
        here = floor_of(path, table)
        for target, line in imports(path, mods):
            if floor_of(mods[target], table) > here:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target}, a floor above")
    assert not upward, "\n".join(sorted(upward))


def test_no_modules_import_each_other():
    mods = module_files()
    graph = {name: {t for t, _ in imports(path, mods) if t != name} for name, path in mods.items()}
    circles, state = [], {}  # state: 1 = on the current path, 2 = done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not circles, "import circles:\n" + "\n".join(circles)
