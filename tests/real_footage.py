"""Real footage of people for the pose tests, from a registry package: `python -m tests.real_footage` fetches it.

`sports2d==0.8.34` (BSD-3-Clause) ships `Sports2D/Demo/demo.mp4`: 230 frames, 1768 x 994, 30 fps, outdoors
against the sun; a man on a roof stands, jumps off with a flip and walks away while a woman walks past
below. `make test` fetches it (pinned by sha256) into ~/.cache/pevl/test-footage before the tests run.
"""

import sys
from pathlib import Path

import cv2
import numpy as np

from pose_extraction.registry_files import RegistryFiles, fetch_files, models_folder, verified_folder

SPORTS2D_DEMO = RegistryFiles(
    name="sports2d-demo",
    requirement="sports2d==0.8.34",
    wheel="sports2d-0.8.34-py3-none-any.whl",
    wheel_sha256="733b6db70742636ae9c35d870c22bd416582f579abd5881bee93a14bb0e2655d",
    platform="manylinux_2_28_x86_64",
    files={"Sports2D/Demo/demo.mp4": "d9a66417185647b112304b57093f0c180f37a768e6a14daca75ca541f3b78039"},
    licence="BSD-3-Clause (Sports2D, David Pagnon)",
    fetch_command="make test-assets",
)
ROOT = Path.home() / ".cache" / "pevl" / "test-footage"


def demo_video() -> Path:
    """The verified demo video; an error saying to run `make test-assets` when it is not here."""
    return verified_folder(SPORTS2D_DEMO, models_folder(SPORTS2D_DEMO, ROOT)) / "demo.mp4"


def demo_frames(short_side: int, last: int | None = None) -> np.ndarray:
    """Frames 0..last (default all) of the demo video, RGB, resized to a short side as they are read."""
    from pose_extraction.video import resize_short_side

    cap = cv2.VideoCapture(str(demo_video()))
    frames = []
    while last is None or len(frames) <= last:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(resize_short_side(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), short_side))
    cap.release()
    return np.stack(frames)


if __name__ == "__main__":
    sys.stdout.write(f"{fetch_files(SPORTS2D_DEMO, ROOT) / 'demo.mp4'}\n")
    sys.exit(0)
