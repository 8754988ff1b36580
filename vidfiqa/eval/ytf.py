"""YouTube Faces (YTF): the database layout, its splits, per-frame features and templates.

Layout (Wolf, Hassner and Maoz, "Face Recognition in Unconstrained Videos with Matched
Background Similarity", CVPR 2011)::

    ROOT/frame_images_DB/<Person>/<vid>/<vid>.<frame>.jpg
    ROOT/frame_images_DB/<Person>.labeled_faces.txt
        lines: Person\\vid\\vid.frame.jpg,0,x_center,y_center,width,height,0.0,1
    ROOT/aligned_images_DB/<Person>/<vid>/aligned_detect_<vid>.<frame>.jpg   (optional)
    ROOT/splits.txt                      "split, pair, Person/vid, Person/vid, is_same" (a header
                                         line is optional)
    ROOT/meta_data/meta_and_splits.mat   mat_names and Splits (500 x 3 x 10, 1-based indices
                                         into mat_names and the same/different label)

Frame numbers do not start at 0. Videos named by a split but absent from the data are reported
by the protocols, never silently dropped.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from vidfiqa.eval.types import EvalInputError, Pair
from vidfiqa.types import ImageFrame, ImageSequence


class YtfError(EvalInputError):
    """A YTF folder or split file that cannot be read; the message is one line."""


def drop_missing_frames(videos: dict[str, ImageSequence]) -> dict[str, ImageSequence]:
    """``videos`` without the frames whose files are absent (counted in ``missing_frames``), and
    without videos that have none left: those are then missing as a whole, as absent videos are."""
    out = {}
    for name, video in videos.items():
        present = [f for f in video.frames if f.path.is_file()]
        video.missing_frames += len(video.frames) - len(present)
        video.frames = present
        if present:
            out[name] = video
    return out


def missing_frames_notes(videos: dict[str, ImageSequence]) -> list[str]:
    """Warnings for a reader: frames the lists name that are absent, and videos left with none
    (their pairs count as missing). Empty when nothing is missing."""
    missing = sum(v.missing_frames for v in videos.values())
    if not missing:
        return []
    listed = missing + sum(len(v.frames) for v in videos.values())
    hit = sum(v.missing_frames > 0 for v in videos.values())
    notes = [
        f"warning: {missing} of the {listed} listed frames are missing (in {hit} videos); "
        "those videos are evaluated from the frames present"
    ]
    empty = sorted(n for n, v in videos.items() if not v.frames)
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        notes.append(
            f"warning: {len(empty)} videos have none of their frames ({shown}); their pairs count as missing"
        )
    return notes


def find_splits(root: str | Path) -> Path:
    """``ROOT/splits.txt``, else ``ROOT/meta_data/meta_and_splits.mat``.

    Raises:
        YtfError: neither is there.
    """
    for candidate in (Path(root) / "splits.txt", Path(root) / "meta_data" / "meta_and_splits.mat"):
        if candidate.exists():
            return candidate
    raise YtfError(f"{root}: no splits.txt or meta_data/meta_and_splits.mat; pass --splits")


_LINE = re.compile(r"^(?P<rel>[^,]+),[^,]*,(?P<x>[-\d.]+),(?P<y>[-\d.]+),(?P<w>[-\d.]+),(?P<h>[-\d.]+)")


def read_labeled_faces(path: Path, images: Path) -> dict[str, ImageSequence]:
    """Videos of one ``<Person>.labeled_faces.txt``; centre boxes become xyxy."""
    videos: dict[str, ImageSequence] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        m = _LINE.match(line.strip())
        if m is None:
            raise YtfError(f"{path}:{n}: not a labeled_faces line: {line[:60]!r}")
        parts = m["rel"].replace("\\", "/").split("/")
        if len(parts) != 3:
            raise YtfError(f"{path}:{n}: expected Person\\vid\\file.jpg, got {m['rel']!r}")
        person, vid, file = parts
        number = int(file.rsplit(".", 2)[-2])
        x, y, w, h = (float(m[k]) for k in "xywh")
        box = np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2], np.float32)
        name = f"{person}/{vid}"
        videos.setdefault(name, ImageSequence(name, person, [])).frames.append(
            ImageFrame(images / person / vid / file, number, box)
        )
    for v in videos.values():
        v.frames.sort(key=lambda f: f.number)
    return videos


_ALIGNED = re.compile(r"^aligned_detect_(?P<vid>[^.]+)\.(?P<frame>\d+)\.(jpg|png)$", re.IGNORECASE)


def load_aligned(root: str | Path) -> dict[str, ImageSequence]:
    """Every video of ``root/aligned_images_DB/<Person>/<vid>/aligned_detect_<vid>.<frame>.jpg``.

    These frames come without boxes: their faces are found by the detector.
    """
    base = Path(root) / "aligned_images_DB"
    if not base.is_dir():
        raise YtfError(f"{root}: no aligned_images_DB folder")
    videos = {}
    for folder in sorted(p for p in base.glob("*/*") if p.is_dir()):
        frames = []
        for f in folder.iterdir():
            m = _ALIGNED.match(f.name)
            if m:
                frames.append(ImageFrame(f, int(m["frame"]), None))
        if frames:
            name = f"{folder.parent.name}/{folder.name}"
            videos[name] = ImageSequence(name, folder.parent.name, sorted(frames, key=lambda x: x.number))
    if not videos:
        raise YtfError(f"{base}: no aligned_detect_<vid>.<frame>.jpg frames")
    return videos


def load_ytf(root: str | Path) -> dict[str, ImageSequence]:
    """Every video with a labeled_faces file under ``root/frame_images_DB``."""
    images = Path(root) / "frame_images_DB"
    if not images.is_dir():
        raise YtfError(f"{root}: no frame_images_DB folder (is this a YouTube Faces root?)")
    videos: dict[str, ImageSequence] = {}
    for txt in sorted(images.glob("*.labeled_faces.txt")):
        videos.update(read_labeled_faces(txt, images))
    if not videos:
        raise YtfError(f"{images}: no *.labeled_faces.txt files")
    return videos


def split_halves(videos: dict[str, ImageSequence]) -> dict[str, ImageSequence]:
    """Each video as two: ``Person/vid#1`` (first half of its frames) and ``Person/vid#2``.

    For small sets with one video per person, this makes same-person pairs to evaluate on.
    """
    out = {}
    for v in videos.values():
        mid = len(v.frames) // 2
        for half, frames in (("#1", v.frames[:mid]), ("#2", v.frames[mid:])):
            if frames:
                out[f"{v.name}{half}"] = ImageSequence(f"{v.name}{half}", v.person, frames)
    return out


def read_splits(path: str | Path) -> list[Pair]:
    """Pairs of ``splits.txt`` (header optional) or of ``meta_and_splits.mat``."""
    p = Path(path)
    if not p.is_file():
        raise YtfError(f"{p}: no such splits file")
    if p.suffix == ".mat":
        return _read_mat_splits(p)
    pairs = []
    with p.open(newline="") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            row = [c.strip() for c in row]
            if not row or not row[0]:
                continue
            if not row[0].isdigit():
                if n == 1:
                    continue  # header
                raise YtfError(f"{p}:{n}: expected 'split, pair, Person/vid, Person/vid, is_same'")
            if len(row) < 5:
                raise YtfError(f"{p}:{n}: expected 5 columns, got {len(row)}")
            pairs.append(Pair(int(row[0]), row[2], row[3], row[4] == "1"))
    return pairs


def _read_mat_splits(path: Path) -> list[Pair]:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        names = [str(np.ravel(n)[0]) for n in np.ravel(mat["mat_names"])]
        splits = np.asarray(mat["Splits"])
    except (KeyError, ValueError, OSError) as exc:
        raise YtfError(f"{path}: not a YTF meta_and_splits.mat ({exc})") from None
    pairs = []
    for k in range(splits.shape[2]):
        for i in range(splits.shape[0]):
            a, b, same = splits[i, :, k]
            pairs.append(Pair(k + 1, names[int(a) - 1], names[int(b) - 1], bool(same)))
    return pairs
