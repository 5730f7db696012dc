"""Open vocabulary: score videos against class texts from a file, through the model's own text tower.

A labels file (`pevl predict --labels FILE`) is either
- text (any suffix but .yaml / .yml): one class text per line, which is also the class's name;
  blank lines and `#` lines are skipped;
- YAML (.yaml / .yml): a mapping `name: text`, or `name: {text: ..., phrases: [...]}` where the
  model's words are sub-action phrases (`model.sgmc.word_level: phrases`; other models read the
  text only, and a class without phrases uses its text as its only phrase, as in training).
Labels are 0..C-1 in the file's order. A file that is missing, empty, not UTF-8, not valid YAML,
has fewer than two classes, a class without text, or a name or text listed twice raises
LabelsError naming the file and the line.

`use_labels` swaps the model's text encoder for one over the file's texts, built by
`build_text_encoder_for`: the checkpoint's frozen text tower, trained adapters and class centring,
on the code path that encoded the training classes, so the training texts give the model's own
scores. With `model.text_centre` the centre is the mean over the file's texts: scores depend on
the set listed, as the softmax over it does anyway.
"""

import dataclasses
from pathlib import Path

import yaml

from pevl.predict.model import LoadedModel
from pevl.storage.outputs import StageError
from schemas import ClassText

YAML_SUFFIXES = (".yaml", ".yml")


class LabelsError(ValueError):
    """A labels file that cannot be used; the message names the file and, where there is one, the line."""


def _entry(where: str, label: int, name: str, text: str, phrases: list[str], seen: dict) -> ClassText:
    """Class `label`, refusing a text or name listed before (`seen`: (kind, value) -> where it was)."""
    text = text.strip()
    if not text:
        raise LabelsError(f"{where}: class {name!r} has no text")
    for kind, value in (("text", text), ("name", name)):
        if (kind, value) in seen:
            raise LabelsError(f"{where}: the {kind} {value!r} is listed twice (first at {seen[(kind, value)]})")
        seen[(kind, value)] = where
    return ClassText(label=label, name=name, text=text, phrases=phrases)


def _text_classes(path: Path, text: str) -> list[ClassText]:
    seen: dict = {}
    classes = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            classes.append(_entry(f"{path}:{number}", len(classes), line, line, [], seen))
    return classes


def _scalar(node: yaml.Node, where: str, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
        got = "nothing" if isinstance(node, yaml.ScalarNode) else node.id
        raise LabelsError(f"{where}: {what} must be a text, got {got}")
    return str(node.value)


def _yaml_class(label: int, key: yaml.Node, value: yaml.Node, path: Path, seen: dict) -> ClassText:
    where = f"{path}:{key.start_mark.line + 1}"
    name = _scalar(key, where, "a class name")
    if not isinstance(value, yaml.MappingNode):
        if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null"):
            raise LabelsError(f"{where}: class {name!r} has no text")
        return _entry(where, label, name, _scalar(value, where, f"the text of {name!r}"), [], seen)
    fields = {_scalar(k, where, "a field name"): v for k, v in value.value}
    unknown = sorted(set(fields) - {"text", "phrases"})
    if unknown or "text" not in fields:
        raise LabelsError(f"{where}: class {name!r} takes a text and optional phrases"
                          + (f", not {', '.join(unknown)}" if unknown else ", and has no text"))
    phrases = fields.get("phrases")
    if phrases is not None and not isinstance(phrases, yaml.SequenceNode):
        raise LabelsError(f"{where}: the phrases of {name!r} must be a list of texts")
    listed = [_scalar(p, f"{path}:{p.start_mark.line + 1}", f"a phrase of {name!r}")
              for p in (phrases.value if phrases else [])]
    return _entry(where, label, name, _scalar(fields["text"], where, f"the text of {name!r}"), listed, seen)


def _yaml_classes(path: Path, text: str) -> list[ClassText]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise LabelsError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise LabelsError(f"{path}:{root.start_mark.line + 1}: expected a mapping of class name -> text, "
                          f"got a {root.id}")
    seen: dict = {}
    return [_yaml_class(label, key, value, path, seen) for label, (key, value) in enumerate(root.value)]


def read_labels(path: str | Path) -> list[ClassText]:
    """The class texts of a labels file (module doc for the formats), labels 0..C-1 in file order."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise LabelsError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise LabelsError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    classes = _yaml_classes(path, text) if path.suffix.lower() in YAML_SUFFIXES else _text_classes(path, text)
    if not classes:
        raise LabelsError(f"{path}: lists no class texts")
    if len(classes) < 2:
        raise LabelsError(f"{path}: lists one class text; at least two are needed (one class always has probability 1)")
    return classes


def use_labels(loaded: LoadedModel, classes: list[ClassText]) -> LoadedModel:
    """`loaded` scoring against `classes` instead of its training classes (its model's text encoder is replaced).

    Raises StageError for a model without a text tower (trained with model.use_text: false).
    """
    from pevl.model.build import build_text_encoder_for
    from pevl.model.text_encoder import TextEncoder

    model = loaded.model
    if not isinstance(model.text_encoder, TextEncoder):
        raise StageError(f"predict: {loaded.path} was trained without class texts (model.use_text: false): "
                         "it has no text tower to read --labels with")
    model.text_encoder = build_text_encoder_for(loaded.cfg.model, model.text_encoder, classes).eval()
    return dataclasses.replace(loaded, classes=[c.model_dump() for c in classes])
