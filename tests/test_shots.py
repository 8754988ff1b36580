from pathlib import Path

import av
import numpy as np

from vidfiqa.pipeline.shots import ShotDetector


def cuts(frames, **rules) -> list[int]:
    det = ShotDetector(**rules)
    return [i for i, frame in enumerate(frames) if det.update(frame)]


def noisy(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(base.astype(int) + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8)


def plain(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (90, 160, 3)).copy()


def test_cut_between_different_scenes_only() -> None:
    rng = np.random.default_rng(0)
    indoor, outdoor = plain((180, 0, 0)), plain((0, 0, 200))
    assert cuts(noisy(indoor if i < 5 else outdoor, rng) for i in range(10)) == [5]


def test_flicker_cuts_once_and_pulsing_light_never() -> None:
    rng = np.random.default_rng(0)
    scene, flash = plain((90, 120, 60)), plain((230, 230, 250))
    # Lit by a flash every other pair of frames: only its first change is taken for a cut.
    flicker = [flash if 10 <= i < 24 and (i // 2) % 2 == 1 else scene for i in range(30)]
    assert cuts(noisy(f, rng) for f in flicker) == [10]
    # A textured scene whose light pulses between 35% and 100% every 8 frames, with noise:
    # consecutive frames differ by up to ~0.39, beyond the threshold, and the light keeps
    # changing: at most the first change cuts, where the threshold alone cuts again and again.
    texture = np.linspace(0.3, 1.0, 160)[None, :, None] * np.linspace(0.5, 1.0, 90)[:, None, None]
    lit = texture * np.array([200, 230, 160])
    gain = 0.35 + 0.65 * (0.5 + 0.5 * np.cos(2 * np.pi * np.arange(24) / 8))
    pulsing = [noisy((lit * g).astype(np.uint8), rng) for g in gain]
    assert len(cuts(pulsing)) <= 1
    assert len(cuts(pulsing, ratio=0, memory=1, min_length=1)) >= 3


def test_cuts_of_a_film_clip_between_similar_scenes(shared_data: Path) -> None:
    # Tears of Steel: cuts at 21 (a close-up to a wide shot of the same street, distance 0.36,
    # which the old single threshold of 0.5 missed), 65 and 185; a hologram then flickers every
    # two frames from 192 to 205 (distances 0.55-0.61): its first change is taken for a cut.
    with av.open(str(shared_data / "videos" / "tears_of_steel_clip.mp4")) as video:
        found = cuts(f.to_ndarray(format="rgb24") for f in video.decode(video=0))
    assert found == [21, 65, 185, 192]


def test_no_cut_in_one_shot_footage(shared_data: Path) -> None:
    for name in ("multi_face_walk_1080p.mp4", "talking_head_a.mp4", "foreman_cif.h264"):
        with av.open(str(shared_data / "videos" / name)) as video:
            assert cuts(f.to_ndarray(format="rgb24") for f in video.decode(video=0)) == [], name
