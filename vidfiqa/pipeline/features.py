"""Per-face features of image collections for evaluation and training: the face of each image,
its aligned crops, embeddings and qualities.

This is the pipeline layer's answer for inputs that are images rather than videos (YouTube Faces
frames, LFW and IJB photos, frame folders, training sets): evaluation then works on the
:class:`~vidfiqa.types.VideoFeatures` / :class:`~vidfiqa.types.ImageFeatures` computed here and
never runs a model itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vidfiqa.align import embedder_chips
from vidfiqa.geometry import largest
from vidfiqa.models.base import Detector, Embedder, Landmarker, QualityScorer
from vidfiqa.pipeline.faces import face_batch
from vidfiqa.types import Detections, FaceBatch, ImageFeatures, ImageFrame, ImageSequence, VideoFeatures


def largest_face(detections: Detections) -> Detections:
    """The one-row ``detections`` of the largest face (the face a photo is taken to show)."""
    return detections[[largest(detections.boxes)]]


def given_face(box: np.ndarray, score: float = 1.0, confidence: float = 1.0) -> Detections:
    """A face whose box comes with the data (a database's box, the whole of a face crop)."""
    return Detections(
        boxes=np.asarray(box, np.float32)[None],
        scores=np.array([score], np.float32),
        confidence=np.array([confidence], np.float32),
    )


def find_face(image: np.ndarray, given: Detections | None, detector: Detector | None) -> Detections | None:
    """The face of ``image``: ``given``, else the largest the ``detector`` finds (``None`` if it
    finds none), else the whole image (a face crop)."""
    if given is not None:
        return given
    if detector is None:
        h, w = image.shape[:2]
        return given_face([0, 0, w, h])
    found = detector.detect([image])[0]
    return largest_face(found) if len(found) else None


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8 ``(H, W, 3)``.

    Raises:
        OSError: missing, unreadable or not an image (PIL's ``UnidentifiedImageError`` is one).
    """
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def chips_for(
    embedder: Embedder, images: list[np.ndarray], detections: list[Detections], batch: FaceBatch
) -> np.ndarray:
    """What ``embedder`` takes of faces just described (``batch``, from ``detections`` in
    ``images``, in order): the ArcFace crops already in ``batch``, or dlib's 150x150 chips."""
    if embedder.alignment == "arcface112":
        return batch.crops
    return np.concatenate(
        [
            embedder_chips(embedder.alignment, im, d.landmarks, d.data.get("dlib5"))
            for im, d in zip(images, detections)
        ]
    )


@dataclass(frozen=True, slots=True)
class DescribedFaces:
    """The faces found in a list of images: ``index`` int64 ``(m,)`` (positions of the images
    with a face), their aligned ``batch`` and the embedder's ``chips`` uint8 ``(m, S, S, 3)``."""

    index: np.ndarray
    batch: FaceBatch
    chips: np.ndarray


def describe_images(
    images: Iterable[tuple[np.ndarray, Detections | None]],
    *,
    landmarker: Landmarker,
    embedder: Embedder,
    detector: Detector | None = None,
    progress: Callable[[int], None] | None = None,
) -> DescribedFaces | None:
    """Find (see :func:`find_face`), landmark and align the face of each ``(image, given face)``;
    ``None`` when no image has one."""
    index, batches, chips = [], [], []
    for i, (image, given) in enumerate(images):
        face = find_face(image, given, detector)
        if face is not None:
            face = landmarker.landmark(image, face)
            batch = face_batch(image, face)
            index.append(i)
            batches.append(batch)
            chips.append(chips_for(embedder, [image], [face], batch))
        if progress:
            progress(1)
    if not index:
        return None
    return DescribedFaces(np.array(index, np.int64), FaceBatch.concat(batches), np.concatenate(chips))


def image_features(
    paths: list[Path],
    given: list[Detections | None] | None,
    *,
    landmarker: Landmarker,
    embedder: Embedder,
    scorers: dict[str, QualityScorer],
    detector: Detector | None,
    progress: Callable[[int], None] | None = None,
) -> ImageFeatures | None:
    """Embed and score the face of every image (``given`` faces, else the detector's largest);
    ``None`` when no image has a face.

    Raises:
        OSError: an image that cannot be read.
    """
    faces = describe_images(
        ((read_rgb(p), given[i] if given else None) for i, p in enumerate(paths)),
        landmarker=landmarker,
        embedder=embedder,
        detector=detector,
        progress=progress,
    )
    if faces is None:
        return None
    found = np.zeros(len(paths), bool)
    found[faces.index] = True
    return ImageFeatures(
        found=found,
        embeddings=embedder.embed(faces.chips),  # one call: the embedder batches across images
        qualities={n: s.score(faces.batch).scores for n, s in scorers.items()},
    )


def sample_frames(video: ImageSequence, max_frames: int | None) -> list[ImageFrame]:
    """At most ``max_frames`` frames spread evenly over the video (all when ``None``)."""
    if max_frames is None or len(video.frames) <= max_frames:
        return video.frames
    idx = np.unique(np.linspace(0, len(video.frames) - 1, max_frames).round().astype(int))
    return [video.frames[i] for i in idx]


@dataclass(slots=True)
class FeatureExtractor:
    """Computes and caches per-frame embeddings and qualities of image sequences.

    The cache holds one ``.npz`` per sequence and settings; embeddings and each scorer's
    qualities are stored under their own keys, so another scorer later costs only its own
    scoring (faces are re-cropped from the images, the embedder is not run again). A frame whose
    file cannot be read is skipped like a frame without a face.

    Args:
        landmarker, embedder: models.
        scorers: name -> quality scorer.
        detector: when given, faces are found by it (the largest per frame) instead of taken
            from the data's boxes; frames without a box need it.
        max_frames: frames per sequence, spread evenly (``None``: all).
        cache: folder of ``.npz`` files (``None``: no cache).
    """

    landmarker: Landmarker
    embedder: Embedder
    scorers: dict[str, QualityScorer]
    detector: Detector | None = None
    max_frames: int | None = None
    cache: Path | None = None

    def _cache_file(self, video: ImageSequence, frames: list[ImageFrame]) -> Path | None:
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

    def _images(
        self, frames: list[ImageFrame]
    ) -> tuple[list[int], list[tuple[np.ndarray, Detections | None]]]:
        used, images = [], []
        for i, f in enumerate(frames):
            try:
                image = read_rgb(f.path)
            except OSError:
                continue
            if self.detector is None and f.box is None:
                raise ValueError(f"{f.path}: no face box given and no detector to find one")
            given = None if self.detector is not None or f.box is None else given_face(f.box)
            used.append(i)
            images.append((image, given))
        return used, images

    def features(
        self, video: ImageSequence, progress: Callable[[int], None] | None = None
    ) -> VideoFeatures | None:
        """Features of ``video``; ``None`` if no frame has a face. ``progress(n)`` is told of
        every frame done (all at once when they come from the cache)."""
        frames = sample_frames(video, self.max_frames)
        path = self._cache_file(video, frames)
        stored: dict[str, np.ndarray] = {}
        if path is not None and path.exists():
            with np.load(path) as npz:
                stored = dict(npz)
        missing = [s for s in self.scorers if f"quality__{s}" not in stored]
        if "embeddings" in stored and not missing:
            if progress:
                progress(len(frames))
            return _from_cache(stored, list(self.scorers))
        used, images = self._images(frames)
        if progress and len(used) < len(frames):
            progress(len(frames) - len(used))  # unreadable frames, skipped
        faces = describe_images(
            images,
            landmarker=self.landmarker,
            embedder=self.embedder,
            detector=self.detector,
            progress=progress,
        )
        if faces is None:
            return None
        if "embeddings" not in stored:
            stored["embeddings"] = self.embedder.embed(faces.chips)
            stored["frames"] = np.array([frames[used[i]].number for i in faces.index], np.int64)
        for name in missing:
            stored[f"quality__{name}"] = self.scorers[name].score(faces.batch).scores
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **stored)
            tmp.replace(path)
        return _from_cache(stored, list(self.scorers))


def _from_cache(stored: dict[str, np.ndarray], scorers: list[str]) -> VideoFeatures:
    return VideoFeatures(
        frames=stored["frames"],
        embeddings=stored["embeddings"].astype(np.float32),
        qualities={s: stored[f"quality__{s}"].astype(np.float32) for s in scorers},
    )


def extract_all(
    videos: dict[str, ImageSequence],
    extractor: FeatureExtractor,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, VideoFeatures], list[str]]:
    """Features of every sequence, and the names of those without any face."""
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
