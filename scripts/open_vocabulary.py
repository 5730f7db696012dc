"""Open vocabulary on SynthDive: a model trained without some classes scores their videos from their texts alone.

    python scripts/open_vocabulary.py [--work work/open-vocab] [--held-out 3,9,15,21,27,33,39,45]
                                      [--clips-per-class 30] [--held-out-clips 12] [--out DIR]

1. Trains configs/demo.yaml on SynthDive without the held-out classes: `dataset.synth.classes` =
   the others and `dataset.synth.vocab: rendered`, so the model's class texts are the seen
   classes' only; no held-out class is in training, not even as a negative text.
2. Renders the held-out classes' videos apart (seed 1, `--held-out-clips` per class, all unseen).
3. `predict_videos(..., labels=FILE)` on them with (a) the held-out classes' texts and (b) all 48
   classes' texts, and, for reference, on the seen classes' test videos with (c) the model's own
   classes and (d) all 48 texts. Each held-out class shares every attribute value (takeoff,
   somersaults, twists, position) with some seen class: the texts are new combinations of words the
   model has seen, not new words.
Prints top-1 / top-5 against chance with the machine line, and writes DIR/open_vocabulary.json.
The embedded backbone (synthclip-tiny) was pretrained on captioned SynthDive frames of every class:
held out here means held out of PeVL training, not of the backbone's pretraining.
"""

import argparse
import datetime
import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pevl.console import say, setup_logging  # noqa: E402

log = logging.getLogger("scripts.open_vocabulary")
HELD_OUT = (3, 9, 15, 21, 27, 33, 39, 45)


def vocabulary() -> list:
    """The 48 Diving48 classes' texts (name, sentence, phrases, attributes), by label."""
    from pevl.datasets.text import diving48_class_text
    from pevl.synth.vocab import load_vocab

    return [diving48_class_text(label, list(codes)) for label, codes in enumerate(load_vocab())]


def uncovered(held_out: list[int], classes: list) -> list[str]:
    """Attribute values of held-out classes that no seen class has."""
    seen = {(k, v) for c in classes if c.label not in held_out for k, v in c.attributes.items()}
    return sorted({f"{k}={v}" for label in held_out for k, v in classes[label].attributes.items()
                   if (k, v) not in seen})


def write_labels(path: Path, classes: list) -> Path:
    """A YAML labels file `name: text` of the given classes."""
    import yaml

    path.write_text(yaml.safe_dump({c.name: c.text for c in classes}, sort_keys=False))
    return path


def train(work: Path, seen: list[int], clips_per_class: int):
    """The demo config trained on the seen classes only; returns (config, checkpoint)."""
    from pevl import paths
    from pevl.pipeline import run_stages
    from schemas import load_config

    cfg = load_config(ROOT / "configs/demo.yaml", [
        f"work_dir={work / 'work'}", f"dataset.root={work / 'synthdive-seen'}", f"dataset.synth.classes={seen}",
        "dataset.synth.vocab=rendered", f"dataset.synth.clips_per_class={clips_per_class}",
        "tracking.enabled=false"])
    run_stages(cfg, ["ingest", "decode", "poses", "shard", "train"])
    return cfg, paths.train_dir(cfg) / f"{cfg.train.test_checkpoint}.pt"


def held_out_videos(root: Path, held_out: list[int], clips: int) -> list[tuple]:
    """(VideoInput, label) of every rendered clip of the held-out classes (Diving48 labels)."""
    from pevl.predict.inputs import VideoInput
    from pevl.synth import generate_synthdive

    if not (root / "Diving48_V2_test.json").is_file():
        generate_synthdive(root, clips, 1, (160, 120), test_fraction=0.5, classes=held_out)
    records = [r for split in ("train", "test") for r in json.loads((root / f"Diving48_V2_{split}.json").read_text())]
    return [(VideoInput(root / "rgb" / f"{r['vid_name']}.mp4", r["start_frame"], r["end_frame"]), r["label"])
            for r in sorted(records, key=lambda r: r["vid_name"])]


def seen_test_videos(cfg, seen: list[int]) -> list[tuple]:
    """(VideoInput, Diving48 label) of the seen classes' test split (the index holds labels 0..k-1)."""
    from pevl import paths
    from pevl.predict.inputs import VideoInput
    from pevl.storage.tables import read_table
    from schemas import ClipRecord

    root = paths.dataset_root(cfg)
    clips = [c for c in read_table(paths.index_dir(cfg) / "clips.parquet", ClipRecord) if c.split == "test"]
    return [(VideoInput(root / c.source, c.start_frame or 0, c.end_frame), seen[c.label]) for c in clips]


def score(rows: list, truth: list[str], num_classes: int) -> dict:
    """Top-1 / top-5 of the rows against the true names, with chance and the rejected count."""
    ok = [(r, t) for r, t in zip(rows, truth) if r.status == "ok"]
    k = min(5, num_classes)
    return {"videos": len(rows), "rejected": len(rows) - len(ok), "classes": num_classes,
            "top1": sum(r.top_names[0] == t for r, t in ok) / max(len(ok), 1),
            "top5": sum(t in r.top_names[:5] for r, t in ok) / max(len(ok), 1),
            "chance_top1": 1 / num_classes, "chance_top5": k / num_classes}


def machine_line() -> str:
    """CPUs, Python, date, commit and load average now."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    return (f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {datetime.date.today()}, "
            f"commit {commit}, load average {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> int:
    """Train, predict and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("work/open-vocab"), help="folder of the datasets and run")
    parser.add_argument("--held-out", default=",".join(map(str, HELD_OUT)), help="labels left out of training")
    parser.add_argument("--clips-per-class", type=int, default=30, help="seen classes' clips (the demo's 30)")
    parser.add_argument("--held-out-clips", type=int, default=12, help="held-out videos per class")
    parser.add_argument("--out", type=Path, default=None, help="where open_vocabulary.json goes (default --work)")
    args = parser.parse_args(argv)
    setup_logging()
    from pevl.predict.predict import predict_videos

    classes = vocabulary()
    held_out = sorted(int(x) for x in args.held_out.split(","))
    seen = [c.label for c in classes if c.label not in held_out]
    if uncovered(held_out, classes):
        log.warning("held-out attribute values no seen class has: %s", ", ".join(uncovered(held_out, classes)))
    args.work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    cfg, checkpoint = train(args.work, seen, args.clips_per_class)
    held = held_out_videos(args.work / "synthdive-held-out", held_out, args.held_out_clips)
    test = seen_test_videos(cfg, seen)
    files = {"held-out": write_labels(args.work / "held-out.yaml", [classes[c] for c in held_out]),
             "all 48": write_labels(args.work / "all.yaml", classes)}
    runs = [("held-out videos", "held-out", held), ("held-out videos", "all 48", held),
            ("seen test videos", "model's classes", test), ("seen test videos", "all 48", test)]
    results = []
    for videos, labels, items in runs:
        rows = predict_videos([v for v, _ in items], checkpoint, labels=files.get(labels), windows="never",
                              show_progress=False)
        num_classes = {"held-out": len(held_out), "all 48": 48}.get(labels, len(seen))
        results.append({"videos_of": videos, "labels": labels,
                        **score(rows, [classes[t].name for _, t in items], num_classes)})
    say(machine_line() + f" (load {load:.2f} at the start)")
    say(f"model: {checkpoint} ({len(seen)} seen classes, held out: {held_out})")
    say("| videos | texts scored | videos (rejected) | classes | top-1 % (chance) | top-5 % (chance) |")
    say("|---|---|---|---|---|---|")
    for r in results:
        say(f"| {r['videos_of']} | {r['labels']} | {r['videos']} ({r['rejected']}) | {r['classes']} | "
            f"{100 * r['top1']:.1f} ({100 * r['chance_top1']:.1f}) | "
            f"{100 * r['top5']:.1f} ({100 * r['chance_top5']:.1f}) |")
    out = (args.out or args.work) / "open_vocabulary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_line(), "held_out": held_out, "results": results}, indent=1))
    say(f"  results  {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
