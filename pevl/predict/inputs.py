"""What `pevl predict` runs on: video files, folders searched recursively, and list files.

A list file (`.txt`) names one video per line, relative to the list's own folder unless absolute;
a line may add a frame range after tabs, `PATH<TAB>START<TAB>END` (END exclusive, as in the
Diving48 annotations), to predict that part of the video only. Blank lines and `#` lines are skipped.
"""

from dataclasses import dataclass
from pathlib import Path

from pevl.datasets.common import VIDEO_SUFFIXES

LIST_SUFFIX = ".txt"


@dataclass(frozen=True)
class VideoInput:
    """One video to predict: a whole file, or source frames [start_frame, end_frame) of it."""

    path: Path
    start_frame: int = 0
    end_frame: int | None = None


class InputError(ValueError):
    """An input that names no video at all (an empty folder, a malformed list line); names the file."""


def as_input(item: "str | Path | VideoInput") -> VideoInput:
    """A VideoInput from a path (the whole video) or a VideoInput as it is."""
    return item if isinstance(item, VideoInput) else VideoInput(Path(item))


def find_videos(folder: Path) -> list[VideoInput]:
    """Every video file under `folder` (the suffixes the dataset adapters read), sorted; hidden files left out."""
    found = sorted(p for p in Path(folder).rglob("*")
                   if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".") and p.is_file())
    return [VideoInput(p) for p in found]


def _list_line(line: str, folder: Path, where: str) -> VideoInput:
    fields = line.split("\t")
    path = Path(fields[0].strip()).expanduser()
    path = path if path.is_absolute() else folder / path
    if len(fields) == 1:
        return VideoInput(path)
    if len(fields) != 3 or not all(f.strip().isdigit() for f in fields[1:]):
        raise InputError(f"{where}: expected PATH or PATH<TAB>START<TAB>END with frame numbers, got {line!r}")
    start, end = int(fields[1]), int(fields[2])
    if end <= start:
        raise InputError(f"{where}: the frame range {start}..{end} is empty")
    return VideoInput(path, start, end)


def read_list(path: Path) -> list[VideoInput]:
    """The videos a list file names (module doc for the format)."""
    path = Path(path)
    videos = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if line.strip() and not line.lstrip().startswith("#"):
            videos.append(_list_line(line, path.parent, f"{path}:{number}"))
    return videos


def collect_videos(items: list[str]) -> list[VideoInput]:
    """The videos named by command-line inputs, in order, each once.

    A folder gives every video under it, a `.txt` file the videos it lists; any other path is a
    video, even one that does not exist or is no video (it becomes a rejected row with its reason).
    Raises InputError when a folder or a list names no video, or a list line is malformed.
    """
    videos: list[VideoInput] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found = find_videos(path)
            if not found:
                raise InputError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) under {path}")
        elif path.suffix.lower() == LIST_SUFFIX and path.is_file():
            found = read_list(path)
            if not found:
                raise InputError(f"{path} lists no videos")
        else:
            found = [VideoInput(path)]
        videos += found
    return list(dict.fromkeys(videos))
