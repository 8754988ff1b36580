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
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vidfiqa.aggregate import Strategy
from vidfiqa.models.base import Detector, Embedder, FaceBatch, Landmarker, QualityScorer
from vidfiqa.pipeline import describe_faces
from vidfiqa.templates import chips_for
from vidfiqa.types import Detections


class YtfError(Exception):
    """A YTF folder or split file that cannot be read; the message is one line."""


@dataclass(frozen=True, slots=True)
class YtfFrame:
    path: Path
    number: int
    box: np.ndarray | None  # float32 (4,) xyxy from the labeled_faces file; None: detect


@dataclass(slots=True)
class YtfVideo:
    """One video: ``name`` is ``Person/vid``; frames in frame-number order.

    ``missing_frames`` counts frames its list names whose files are absent (partial downloads
    look like this); they are left out of ``frames``.
    """

    name: str
    person: str
    frames: list[YtfFrame]
    missing_frames: int = 0


def drop_missing_frames(videos: dict[str, YtfVideo]) -> dict[str, YtfVideo]:
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


@dataclass(frozen=True, slots=True)
class YtfPair:
    split: int
    a: str
    b: str
    same: bool


_LINE = re.compile(r"^(?P<rel>[^,]+),[^,]*,(?P<x>[-\d.]+),(?P<y>[-\d.]+),(?P<w>[-\d.]+),(?P<h>[-\d.]+)")


def read_labeled_faces(path: Path, images: Path) -> dict[str, YtfVideo]:
    """Videos of one ``<Person>.labeled_faces.txt``; centre boxes become xyxy."""
    videos: dict[str, YtfVideo] = {}
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
        videos.setdefault(name, YtfVideo(name, person, [])).frames.append(
            YtfFrame(images / person / vid / file, number, box)
        )
    for v in videos.values():
        v.frames.sort(key=lambda f: f.number)
    return videos


_ALIGNED = re.compile(r"^aligned_detect_(?P<vid>[^.]+)\.(?P<frame>\d+)\.(jpg|png)$", re.IGNORECASE)


def load_aligned(root: str | Path) -> dict[str, YtfVideo]:
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
                frames.append(YtfFrame(f, int(m["frame"]), None))
        if frames:
            name = f"{folder.parent.name}/{folder.name}"
            videos[name] = YtfVideo(name, folder.parent.name, sorted(frames, key=lambda x: x.number))
    if not videos:
        raise YtfError(f"{base}: no aligned_detect_<vid>.<frame>.jpg frames")
    return videos


def load_ytf(root: str | Path) -> dict[str, YtfVideo]:
    """Every video with a labeled_faces file under ``root/frame_images_DB``."""
    images = Path(root) / "frame_images_DB"
    if not images.is_dir():
        raise YtfError(f"{root}: no frame_images_DB folder (is this a YouTube Faces root?)")
    videos: dict[str, YtfVideo] = {}
    for txt in sorted(images.glob("*.labeled_faces.txt")):
        videos.update(read_labeled_faces(txt, images))
    if not videos:
        raise YtfError(f"{images}: no *.labeled_faces.txt files")
    return videos


def split_halves(videos: dict[str, YtfVideo]) -> dict[str, YtfVideo]:
    """Each video as two: ``Person/vid#1`` (first half of its frames) and ``Person/vid#2``.

    For small sets with one video per person, this makes same-person pairs to evaluate on.
    """
    out = {}
    for v in videos.values():
        mid = len(v.frames) // 2
        for half, frames in (("#1", v.frames[:mid]), ("#2", v.frames[mid:])):
            if frames:
                out[f"{v.name}{half}"] = YtfVideo(f"{v.name}{half}", v.person, frames)
    return out


def read_splits(path: str | Path) -> list[YtfPair]:
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
            pairs.append(YtfPair(int(row[0]), row[2], row[3], row[4] == "1"))
    return pairs


def _read_mat_splits(path: Path) -> list[YtfPair]:
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
            pairs.append(YtfPair(k + 1, names[int(a) - 1], names[int(b) - 1], bool(same)))
    return pairs


@dataclass(slots=True)
class VideoFeatures:
    """Per-frame features of one video.

    Attributes:
        frames: int64 ``(n,)`` frame numbers used.
        embeddings: float32 ``(n, d)`` unit vectors.
        qualities: scorer name -> float32 ``(n,)``.
    """

    frames: np.ndarray
    embeddings: np.ndarray
    qualities: dict[str, np.ndarray]


def sample_frames(video: YtfVideo, max_frames: int | None) -> list[YtfFrame]:
    """At most ``max_frames`` frames spread evenly over the video (all when ``None``)."""
    if max_frames is None or len(video.frames) <= max_frames:
        return video.frames
    idx = np.unique(np.linspace(0, len(video.frames) - 1, max_frames).round().astype(int))
    return [video.frames[i] for i in idx]


@dataclass(slots=True)
class FeatureExtractor:
    """Computes and caches per-frame embeddings and qualities of YTF videos.

    The cache holds one ``.npz`` per video and settings; embeddings and each scorer's
    qualities are stored under their own keys, so another scorer later costs only its own
    scoring (faces are re-cropped from the images, the embedder is not run again).

    Args:
        landmarker, embedder: models.
        scorers: name -> quality scorer.
        detector: when given, faces are found by it (the largest per frame) instead of taken
            from the database's boxes.
        max_frames: frames per video, spread evenly (``None``: all).
        cache: folder of ``.npz`` files (``None``: no cache).
    """

    landmarker: Landmarker
    embedder: Embedder
    scorers: dict[str, QualityScorer]
    detector: Detector | None = None
    max_frames: int | None = None
    cache: Path | None = None

    def _cache_file(self, video: YtfVideo, frames: list[YtfFrame]) -> Path | None:
        if self.cache is None:
            return None
        key = "|".join(
            [
                self.landmarker.name,
                self.embedder.name,
                self.detector.name if self.detector else "boxes",
                video.name,
                ",".join(str(f.number) for f in frames),
            ]
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return self.cache / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', video.name)}__{digest}.npz"

    def _faces(self, frames: list[YtfFrame]) -> tuple[list[int], list[np.ndarray], list[Detections]]:
        used, images, dets = [], [], []
        for i, f in enumerate(frames):
            image = np.asarray(Image.open(f.path).convert("RGB"))
            if self.detector is not None or f.box is None:
                if self.detector is None:
                    raise YtfError(f"{f.path}: no face box given and no detector to find one")
                found = self.detector.detect([image])[0]
                if not len(found):
                    continue
                areas = np.prod(found.boxes[:, 2:] - found.boxes[:, :2], axis=1)
                d = found[[int(np.argmax(areas))]]
            else:
                d = Detections(
                    boxes=f.box[None], scores=np.ones(1), data={"confidence": np.ones(1, np.float32)}
                )
            used.append(i)
            images.append(image)
            dets.append(d)
        return used, images, dets

    def features(self, video: YtfVideo) -> VideoFeatures | None:
        """Features of ``video``; ``None`` if no frame has a face."""
        frames = sample_frames(video, self.max_frames)
        path = self._cache_file(video, frames)
        stored: dict[str, np.ndarray] = {}
        if path is not None and path.exists():
            with np.load(path) as npz:
                stored = dict(npz)
        missing = [s for s in self.scorers if f"quality__{s}" not in stored]
        if "embeddings" in stored and not missing:
            return _from_store(stored, list(self.scorers))
        used, images, dets = self._faces(frames)
        if not used:
            return None
        batches = [describe_faces(im, d, self.landmarker) for im, d in zip(images, dets)]
        batch = FaceBatch.concat(batches)
        if "embeddings" not in stored:
            chips = chips_for(self.embedder, images, dets, batch)
            stored["embeddings"] = self.embedder.embed(chips)
            stored["frames"] = np.array([frames[i].number for i in used], np.int64)
        for name in missing:
            stored[f"quality__{name}"] = self.scorers[name].score(batch).scores
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **stored)
            tmp.replace(path)
        return _from_store(stored, list(self.scorers))


def _from_store(stored: dict[str, np.ndarray], scorers: list[str]) -> VideoFeatures:
    return VideoFeatures(
        frames=stored["frames"],
        embeddings=stored["embeddings"].astype(np.float32),
        qualities={s: stored[f"quality__{s}"].astype(np.float32) for s in scorers},
    )


@dataclass(frozen=True, slots=True)
class Templates:
    """One template per video for one scorer and strategy.

    Attributes:
        names: video names, ``(n,)``.
        vectors: float32 ``(n, d)``.
        quality: float64 ``(n,)`` template quality: the weighted mean quality of the frames
            that made it (used as the video's quality in EDC).
    """

    names: list[str]
    vectors: np.ndarray
    quality: np.ndarray


def make_templates(features: dict[str, VideoFeatures], scorer: str, strategy: Strategy) -> Templates:
    names = sorted(features)
    vectors, quality = [], []
    for name in names:
        f = features[name]
        q = f.qualities[scorer]
        agg = strategy.aggregate(q, f.embeddings)
        vectors.append(agg.vector)
        quality.append(float((agg.weights * q[agg.frames]).sum()))
    return Templates(names, np.stack(vectors), np.array(quality))


def extract_all(
    videos: dict[str, YtfVideo], extractor: FeatureExtractor, progress: Callable[[int], None] | None = None
) -> tuple[dict[str, VideoFeatures], list[str]]:
    """Features of every video, and the names of videos without any face."""
    out, empty = {}, []
    for name in sorted(videos):
        f = extractor.features(videos[name])
        if f is None:
            empty.append(name)
        else:
            out[name] = f
        if progress:
            progress(1)
    return out, empty
