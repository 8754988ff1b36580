"""Build the corpus of damaged and unusual inputs that ``test_bad_inputs.py`` feeds to ``vidfiqa
process``: every kind of file a batch from the field may hold. Small and built in seconds, from the
committed sample clips and ``../shared/data/videos/foreman_cif.h264``.

    python -m tests.bad_inputs OUT_DIR     # to look at the files
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidfiqa.video import ReadOptions, open_video, write_video

ROOT = Path(__file__).resolve().parents[1]


def _face_frames(n: int) -> list[np.ndarray]:
    with open_video(ROOT / "sample_videos" / "blur_ramp.mp4", ReadOptions(max_frames=n)) as reader:
        return [f.image for f in reader]


def _encode(
    path: Path, frames: list[np.ndarray], *, pix_fmt: str = "yuv420p", pts: list[int] | None = None
) -> Path:
    # moov first (faststart), as streaming sites write them: a cut file then keeps its index.
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        stream.time_base = Fraction(1, 1000) if pts else Fraction(1, 25)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = pts[i] if pts else i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _without_moov(src: Path, dst: Path) -> Path:
    data, out, pos = src.read_bytes(), bytearray(), 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] != b"moov":
            out += data[pos : pos + size]
        pos += size
    dst.write_bytes(bytes(out))
    return dst


def _lossy_h264(src: Path, dst: Path) -> Path:
    """The stream with its second IDR slice and three P slices dropped, as lost packets would."""
    # NAL units follow 00 00 01 start codes; the zero before a 4-byte start code stays with the
    # previous unit, where Annex B allows trailing zeros.
    units = [u for u in src.read_bytes().split(b"\x00\x00\x01") if u]
    idr = [i for i, u in enumerate(units) if u[0] & 0x1F == 5]
    p = [i for i, u in enumerate(units) if u[0] & 0x1F == 1]
    drop = set(idr[1:2]) | {p[len(p) // 4], p[len(p) // 2], p[len(p) // 2 + 1]}
    dst.write_bytes(b"".join(b"\x00\x00\x01" + u for i, u in enumerate(units) if i not in drop))
    return dst


def lost_slices_h264(src: Path, dst: Path) -> Path:
    """``src`` (Foreman: two slices a frame) with every tenth P slice after the first 20 NAL units
    dropped: frames keep arriving, each missing part of its picture, which the decoder fills in
    by error concealment and flags corrupt (58 frames)."""
    units = [u for u in src.read_bytes().split(b"\x00\x00\x01") if u]
    keep = [u for i, u in enumerate(units) if not (u[0] & 0x1F == 1 and i > 20 and i % 10 == 0)]
    dst.write_bytes(b"".join(b"\x00\x00\x01" + u for u in keep))
    return dst


def size_change_h264(dst: Path, faces: list[np.ndarray]) -> Path:
    """A raw H.264 stream that switches from 352x288 to 640x480 for frames 8-13 and back, as a
    damaged or spliced broadcast stream does. The face sits left in the small frames
    (x < 352) and at x 312-447 in the large ones, so boxes show whose pixels they are in."""
    small = [cv2.resize(f, (352, 264)) for f in faces]
    small = [np.pad(f, ((12, 12), (0, 0), (0, 0)), constant_values=110) for f in small]
    large = [np.pad(f, ((120, 0), (160, 0), (0, 0)), constant_values=110) for f in faces]
    parts = []
    for k, frames in enumerate((small[:8], large[:6], small[:8])):
        part = write_video(dst.with_name(f"{dst.stem}.part{k}.h264"), frames)  # raw: no container
        parts.append(part.read_bytes())
        part.unlink()
    dst.write_bytes(b"".join(parts))
    return dst


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        t = np.arange(16000) / 16000
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _placed(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` at twice its size in the middle of a grey ``width`` x ``height`` frame (a face
    blown up to fill 4K is too blurred for HOG)."""
    canvas = np.full((height, width, 3), 110, np.uint8)
    big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    y, x = (height - big.shape[0]) // 2, (width - big.shape[1]) // 2
    canvas[y : y + big.shape[0], x : x + big.shape[1]] = big
    return canvas


def _crowd(face: np.ndarray) -> np.ndarray:
    """A 1280x720 frame holding 50 faces (10 x 5 cells)."""
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    tile = cv2.resize(face, (128, 144), interpolation=cv2.INTER_AREA)
    for r in range(5):
        for c in range(10):
            canvas[r * 144 : (r + 1) * 144, c * 128 : (c + 1) * 128] = tile
    return canvas


def build(out: Path, shared: Path | None) -> dict[str, Path]:
    """Write the corpus into ``out``; name -> path (directories and missing paths included)."""
    out.mkdir(parents=True, exist_ok=True)
    faces = _face_frames(8)
    files: dict[str, Path] = {}
    files["zero_bytes"] = out / "zero_bytes.mp4"
    files["zero_bytes"].write_bytes(b"")
    files["random_bytes"] = out / "random_bytes.mp4"
    files["random_bytes"].write_bytes(np.random.default_rng(0).bytes(4096))
    # Long enough that a cut at 50% keeps whole frames before it.
    whole = _encode(out / "whole.mp4", _face_frames(40))
    data = whole.read_bytes()
    for pct in (10, 50, 90):
        files[f"truncated_{pct}"] = out / f"truncated_{pct}.mp4"
        files[f"truncated_{pct}"].write_bytes(data[: len(data) * pct // 100])
    files["no_moov"] = _without_moov(whole, out / "no_moov.mp4")
    # A codec FFmpeg does not know (found by the fuzzer: it used to raise AttributeError).
    files["unknown_codec"] = out / "unknown_codec.mp4"
    files["unknown_codec"].write_bytes(data.replace(b"avc1", b"zzz9"))
    if shared is not None:
        files["lossy_h264"] = _lossy_h264(shared / "videos" / "foreman_cif.h264", out / "lossy.h264")
    files["audio_only"] = _audio_only(out / "audio_only.mp4")
    files["still_image"] = out / "still.png"
    cv2.imwrite(str(files["still_image"]), cv2.cvtColor(faces[0], cv2.COLOR_RGB2BGR))
    files["one_frame"] = _encode(out / "one_frame.mp4", faces[:1])
    files["4k"] = _encode(out / "4k.mp4", [_placed(f, 3840, 2160) for f in faces[:3]])
    files["8k"] = _encode(out / "8k.mp4", [_placed(faces[0], 7680, 4320)])
    files["vfr"] = _encode(out / "vfr.mp4", faces, pts=[0, 40, 60, 200, 210, 400, 440, 1000])
    for angle in (90, 180, 270):
        # Stored turned the other way, so the face is upright once the rotation is applied.
        turned = [np.ascontiguousarray(np.rot90(f, -(angle // 90))) for f in faces]
        files[f"rotated_{angle}"] = write_video(out / f"rotated_{angle}.mp4", turned, rotation=angle)
    for name, fmt in (("gray", "gray"), ("yuv444p", "yuv444p"), ("10bit", "yuv420p10le")):
        files[name] = _encode(out / f"{name}.mp4", faces, pix_fmt=fmt)
    odd = out / "dir with spaces" / "vidéo ünïcode 名前.mp4"
    odd.parent.mkdir(exist_ok=True)
    files["odd_path"] = _encode(odd, faces)
    files["directory"] = out / "a_directory.mp4"
    files["directory"].mkdir(exist_ok=True)
    files["missing"] = out / "missing.mp4"
    noise = [np.random.default_rng(i).integers(0, 256, (240, 320, 3), dtype=np.uint8) for i in range(6)]
    files["no_faces"] = _encode(out / "no_faces.mp4", noise)
    files["crowd_50"] = _encode(out / "crowd_50.mp4", [_crowd(f[60:300, 150:360]) for f in faces[:3]])
    return files


if __name__ == "__main__":
    shared_dir = ROOT.parent / "shared" / "data"
    for key, value in build(Path(sys.argv[1]), shared_dir if shared_dir.is_dir() else None).items():
        print(f"{key:14} {value}")
