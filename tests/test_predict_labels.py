"""`pevl predict --labels`: class texts from a file through the model's own text tower. The training
texts give the model's own scores (the text path is the training one), a permuted and renamed file
maps each name to its text, and a bad file stops with one line naming the file and the line."""

import logging

import numpy as np
import pytest
import yaml

from pevl.cli import main
from pevl.predict.vocabulary import LabelsError, read_labels, use_labels
from predict_fixtures import run  # noqa: F401 - `run` is a fixture


@pytest.fixture(scope="module")
def normal(run):
    """The test videos predicted with the model's own classes, and those classes."""
    from pevl.predict.predict import predict_videos
    from pevl.train.checkpoint import load_checkpoint

    rows = predict_videos(run.inputs()[:4], run.checkpoint, show_progress=False)
    return rows, load_checkpoint(run.checkpoint)["classes"]


def test_the_training_texts_reproduce_the_model_scores(run, normal, tmp_path):
    from pevl.predict.predict import predict_videos

    rows, classes = normal
    listing = tmp_path / "training.yaml"
    listing.write_text(yaml.safe_dump({c["name"]: c["text"] for c in classes}, sort_keys=False))
    again = predict_videos(run.inputs()[:4], run.checkpoint, labels=listing, show_progress=False)
    for a, b in zip(rows, again):
        assert b.top_labels == a.top_labels and b.top_names == a.top_names
        assert np.allclose(b.top_probs, a.top_probs, rtol=0, atol=1e-6)
        assert b.labels == str(listing) and a.labels == "" and b.attributes == []  # a file's classes have none
    lines = tmp_path / "training.txt"  # one text per line: the text is the name
    lines.write_text("# the training classes\n\n" + "\n".join(c["text"] for c in classes) + "\n")
    texts = predict_videos(run.inputs()[:4], run.checkpoint, labels=lines, show_progress=False)
    assert [r.top_names[0] for r in texts] == [classes[r.top_labels[0]]["text"] for r in rows]


def test_a_permuted_renamed_file_maps_names_to_texts(run, normal, tmp_path):
    from pevl.predict.predict import predict_videos

    rows, classes = normal
    order = np.random.default_rng(0).permutation(len(classes))
    listing = tmp_path / "renamed.yaml"
    listing.write_text(yaml.safe_dump({f"class {i}": {"text": classes[i]["text"]} for i in order}, sort_keys=False))
    again = predict_videos(run.inputs()[:4], run.checkpoint, labels=listing, show_progress=False)
    position = {int(i): k for k, i in enumerate(order)}  # training label -> label in the file
    for a, b in zip(rows, again):
        assert b.top_names == [f"class {label}" for label in a.top_labels]
        assert b.top_labels == [position[label] for label in a.top_labels]
        assert np.allclose(b.top_probs, a.top_probs, rtol=0, atol=1e-5)  # the same set: the same softmax


def test_a_subset_of_texts_is_a_softmax_over_it(run, normal, tmp_path):
    from pevl.predict.predict import predict_videos

    rows, classes = normal
    listing = tmp_path / "two.txt"
    listing.write_text(f"{classes[1]['text']}\n{classes[40]['text']}\n")
    again = predict_videos(run.inputs()[:2], run.checkpoint, labels=listing, show_progress=False)
    assert all(sorted(r.top_labels) == [0, 1] and sum(r.top_probs) == pytest.approx(1.0) for r in again)


BAD = {
    "empty.txt": ("", "{path}: lists no class texts"),
    "comments.txt": ("# nothing\n\n", "{path}: lists no class texts"),
    "one.txt": ("a diver performs a dive\n", "{path}: lists one class text; at least two are needed"),
    "twice.txt": ("a forward dive\na back dive\n\na forward dive\n",
                  "{path}:4: the text 'a forward dive' is listed twice (first at {path}:1)"),
    "list.yaml": ("- a forward dive\n- a back dive\n",
                  "{path}:1: expected a mapping of class name -> text, got a sequence"),
    "broken.yaml": ("a: a forward dive\nb: [a back dive\n", "{path}:3: not valid YAML"),
    "no_text.yaml": ("a: a forward dive\nb:\n", "{path}:2: class 'b' has no text"),
    "same_name.yaml": ("a: a forward dive\nb: a back dive\na: an inward dive\n",
                       "{path}:3: the name 'a' is listed twice (first at {path}:1)"),
    "field.yaml": ("a: a forward dive\nb: {text: a back dive, words: [back]}\n",
                   "{path}:2: class 'b' takes a text and optional phrases, not words"),
    "nested.yaml": ("a: a forward dive\nb: [a back dive]\n", "{path}:2: the text of 'b' must be a text, got sequence"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_labels_files_name_the_file_and_line(tmp_path, name):
    content, message = BAD[name]
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(LabelsError) as e:
        read_labels(path)
    assert str(e.value).startswith(message.format(path=path))


def test_unreadable_labels_files(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("a dive\nun plongeon arri\xe8re\n".encode("latin-1"))
    with pytest.raises(LabelsError, match=f"{tmp_path / 'latin1.txt'}: not UTF-8 text"):
        read_labels(tmp_path / "latin1.txt")
    with pytest.raises(LabelsError, match=f"{tmp_path / 'gone.txt'}: cannot be read"):
        read_labels(tmp_path / "gone.txt")


def test_phrases_are_read_for_phrase_models(tmp_path):
    path = tmp_path / "phrases.yml"
    path.write_text("fwd:\n  text: a forward dive\n  phrases: [forward takeoff, a plain dive]\nback: a back dive\n")
    classes = read_labels(path)
    assert [(c.label, c.name, c.text, c.phrases) for c in classes] == [
        (0, "fwd", "a forward dive", ["forward takeoff", "a plain dive"]), (1, "back", "a back dive", [])]


def test_cli_bad_labels_file_is_one_line_and_exit_2(run, tmp_path, caplog, capsys):
    bad = tmp_path / "labels.txt"
    bad.write_text("a forward dive\n")
    out = tmp_path / "out"
    caplog.set_level(logging.INFO)
    assert main(["predict", str(run.inputs()[0].path), "--model", str(run.checkpoint), "--labels", str(bad),
                 "--out", str(out)]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [f"{bad}: lists one class text; at least two are needed (one class always has probability 1)"]
    assert not (out / "predictions.parquet").exists() and capsys.readouterr().out == ""


def test_a_model_without_text_tower_refuses_labels():
    from pevl.model.build import build_model
    from pevl.predict.model import LoadedModel
    from pevl.storage.outputs import StageError
    from tiny_model import tiny_cfg, tiny_classes

    model = build_model(tiny_cfg({"model.use_text": False}), tiny_classes())
    loaded = LoadedModel(model, None, [], "no-text.pt", "", "cpu", None)
    with pytest.raises(StageError, match="no-text.pt was trained without class texts"):
        use_labels(loaded, tiny_classes())


def test_synthdive_can_list_only_the_rendered_classes(tmp_path):
    """`dataset.synth.vocab: rendered`: a model trained on it knows no text of the classes left out."""
    import json

    from pevl.datasets import read_dataset
    from pevl.synth import generate_synthdive
    from pevl.synth.vocab import load_vocab
    from schemas import SynthConfig

    generate_synthdive(tmp_path, 2, 0, (64, 48), workers=1, classes=[30, 7], vocab="rendered")
    assert json.loads((tmp_path / "Diving48_vocab.json").read_text()) == [list(load_vocab()[7]), list(load_vocab()[30])]
    index = read_dataset("diving48", tmp_path)
    assert [c.name for c in index.classes] == ["+".join(load_vocab()[7]), "+".join(load_vocab()[30])]
    assert sorted({c.label for c in index.clips}) == [0, 1] and len(index.clips) == 4 and not index.rejects
    with pytest.raises(ValueError, match="vocab: rendered needs classes"):
        SynthConfig(vocab="rendered")
