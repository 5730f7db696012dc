"""What a grid row changes: its resolved fields that differ from the base config and from the row above.

Each child run of a grid carries them (`pevl.grid.schedule`), so the MLflow runs table can show
them as columns: a param `row.<field>` per field the row changes from the grid's base config
(`row.model.ucmr.use_p2v` = `false`), and the tags `pevl.row` (the row's name), `pevl.changes`
(the same fields on one line: `model.use_pose=false, model.use_adapters=false`) and
`pevl.vs_previous` (the fields in which the row differs from the row above it: what a row of a
cumulative grid such as the components grid adds). The comparison table has both as columns.
Values read as `--set` takes them: strings as they are, the rest as JSON (`true`, `0.01`, `[1, 2]`).
"""

import json
from typing import Any

from schemas import flatten

# (field, value text) pairs in the config's field order
Changes = tuple[tuple[str, str], ...]
IGNORED = ("seed",)  # a row runs under every grid seed: the seed is not what the row changes
SAME_AS_BASE = "none (the base config)"
SAME_AS_ABOVE = "none (the same as the row above)"
PARAM_PREFIX = "row."
TAG_ROW, TAG_CHANGES, TAG_VS_PREVIOUS = "pevl.row", "pevl.changes", "pevl.vs_previous"
MAX_TEXT = 5000  # MLflow keeps tag values up to 8000 characters


def value_text(value: Any) -> str:
    """A config value as `--set` takes it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def diff(before: dict[str, Any], after: dict[str, Any]) -> Changes:
    """The fields of the resolved config `after` whose values differ from `before` (both nested, JSON mode)."""
    old, new = flatten(before), flatten(after)
    changed = [(k, v) for k, v in new.items() if k not in old or old[k] != v]
    gone = [(k, None) for k in old if k not in new]  # a section the row emptied
    return tuple((k, value_text(v)) for k, v in changed + gone if k not in IGNORED)


def changes_text(changes: Changes | None, empty: str = SAME_AS_BASE) -> str:
    """`a.b=1, c=true` (None, the first row's changes from the row above: ''; no changes: `empty`), capped."""
    if changes is None:
        return ""
    text = ", ".join(f"{k}={v}" for k, v in changes) or empty
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def row_params(changes: Changes) -> dict[str, str]:
    """MLflow params of a child run: `row.<field>` -> the row's value, per field it changes from the base."""
    return {f"{PARAM_PREFIX}{k}": v for k, v in changes}


def row_tags(name: str, changes: Changes, previous: Changes | None) -> dict[str, str]:
    """MLflow tags of a child run: its row's name, its changes from the base and from the row above (if any)."""
    tags = {TAG_ROW: name, TAG_CHANGES: changes_text(changes)}
    if previous is not None:
        tags[TAG_VS_PREVIOUS] = changes_text(previous, SAME_AS_ABOVE)
    return tags
