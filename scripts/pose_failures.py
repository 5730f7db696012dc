"""Picture where a pose detector goes wrong: frames whose detected joints are far from the ground truth.

    python scripts/pose_failures.py --truth SHARDS --detected SHARDS [--poses POSES_DIR] [--out PNG]

Both shard folders must hold the same clips (one run with `poses.backend: ground_truth` and zero
errors, one with the detector: `pevl run CONFIG --set ...`). A frame counts when the diver shows
(at least `--min-joints` visible ground-truth joints) and the detector gave a pose; it is a failure
when the median distance of the joints both have exceeds `--threshold` stored-frame pixels. The
picture tiles the first `--count` failures of the test split (sorted by clip key): the stored frame
enlarged 3x, the ground truth in green, the detection in red, the tracked box in yellow when
`--poses` names the detector run's poses folder (its `clips/<key>.bbox.npy`). It also prints how many
frames fail and in which frame positions.
"""

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

log = logging.getLogger("pose_failures")

SCALE = 3
SEEN_SCORE = 0.3  # a detected joint below this score counts as not given


def frame_errors(truth: np.ndarray, detected: np.ndarray, min_joints: int) -> np.ndarray:
    """Median joint error (px) per frame, NaN where the diver does not show or the detector gave nothing.

    Args:
        truth, detected: (T, K, 3) x, y, score in stored-frame pixels.
    Returns:
        (T,) float.
    """
    out = np.full(len(truth), np.nan)
    for t in range(len(truth)):
        seen, given = truth[t, :, 2] > 0, detected[t, :, 2] > SEEN_SCORE
        both = seen & given
        if seen.sum() >= min_joints and both.any():
            out[t] = float(np.median(np.linalg.norm(detected[t, both, :2] - truth[t, both, :2], axis=1)))
    return out


def _tile(frame: np.ndarray, truth: np.ndarray, detected: np.ndarray, box: np.ndarray | None, label: str) -> np.ndarray:
    import cv2

    img = cv2.resize(frame, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST).copy()
    if box is not None and box.any():
        x0, y0, x1, y1 = (int(v * SCALE) for v in box[:4])
        cv2.rectangle(img, (x0, y0), (x1, y1), (255, 255, 0), 1)
    for joints, colour, seen in ((truth, (0, 255, 0), truth[:, 2] > 0), (detected, (255, 0, 0), detected[:, 2] > SEEN_SCORE)):
        for x, y in joints[seen, :2]:
            cv2.circle(img, (int(x * SCALE), int(y * SCALE)), 3, colour, -1)
    cv2.putText(img, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return img


def main(argv: list[str] | None = None) -> int:
    import cv2

    from pevl.shards.reader import iter_samples, shard_urls

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--truth", type=Path, required=True, help="shards with exact ground-truth joints")
    parser.add_argument("--detected", type=Path, required=True, help="shards with the detector's joints")
    parser.add_argument("--poses", type=Path, help="the detector run's poses folder (for the tracked boxes)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--threshold", type=float, default=8.0)
    parser.add_argument("--min-joints", type=int, default=9)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("docs/images/pose-failures.png"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    truth = {meta.key: pose for _, pose, meta in iter_samples(shard_urls(args.truth, args.split))}
    tiles, failed, counted, positions = [], 0, 0, []
    for frames, pose, meta in iter_samples(shard_urls(args.detected, args.split)):
        key = meta.key
        if key not in truth:
            raise SystemExit(f"{key} is in {args.detected} but not in {args.truth}: not the same clips")
        errors = frame_errors(truth[key], pose, args.min_joints)
        counted += int(np.isfinite(errors).sum())
        boxes = np.load(args.poses / "clips" / f"{key}.bbox.npy", allow_pickle=False) if args.poses else None
        for t in np.where(errors > args.threshold)[0]:
            failed += 1
            positions.append(int(t))
            if len(tiles) < args.count:
                tiles.append(_tile(frames[t], truth[key][t], pose[t],
                                   boxes[t] if boxes is not None else None, f"{key[:12]} t{t} {errors[t]:.0f}px"))
    if not counted:
        raise SystemExit(f"no frame of {args.split} shows the diver with a detected pose")
    log.info("%d of %d frames (%.1f%%) off by more than %g px; by frame position: %s", failed, counted,
             100 * failed / counted, args.threshold, np.bincount(positions).tolist() if positions else [])
    if not tiles:
        return 0
    per_row = 4
    blank = np.zeros_like(tiles[0])
    tiles += [blank] * (-len(tiles) % per_row)
    rows = [np.concatenate(tiles[i:i + per_row], 1) for i in range(0, len(tiles), per_row)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
