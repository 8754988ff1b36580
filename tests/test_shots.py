import numpy as np

from vidfiqa.shots import ShotDetector


def test_cut_between_different_scenes_only() -> None:
    rng = np.random.default_rng(0)
    indoor = np.zeros((90, 160, 3), np.uint8)
    indoor[..., 0] = 180
    outdoor = np.zeros((90, 160, 3), np.uint8)
    outdoor[..., 2] = 200
    det = ShotDetector()
    flags = []
    for i in range(10):
        base = indoor if i < 5 else outdoor
        noise = rng.integers(-6, 7, base.shape)
        flags.append(det.update(np.clip(base.astype(int) + noise, 0, 255).astype(np.uint8)))
    assert flags == [False] * 5 + [True] + [False] * 4
