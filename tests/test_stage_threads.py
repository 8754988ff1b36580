"""Detection and tracking on a thread of their own (``detector.thread``), ahead of landmarks and
quality: the same tracks, scores and shots as one thread, errors raised where the caller waits,
and the CPU thread counts that vidfiqa sets for the two stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import SAMPLES
from vidfiqa.build import build_stages
from vidfiqa.config import load_config
from vidfiqa.device import set_cpu_threads, usable_cpus
from vidfiqa.pipeline.analyse import analyse_video


@pytest.fixture
def torch_threads():
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


@pytest.mark.parametrize(
    "schedule",
    [{"detector.full_every": 2}, {"detector.full_seconds": 0.5, "detector.skip_steady": 2}],
    ids=["key-frame schedule", "time schedule, steady skips"],
)
def test_the_detection_thread_changes_no_result(torch_threads, schedule):
    # group_walk has a shot cut: each track must keep its own shot when detection runs ahead.
    path = SAMPLES / "group_walk.mp4"
    # The same thread counts: torch's sums may round differently over another number of threads.
    same = {"quality.cpu_threads": 1, **schedule}
    threaded = analyse_video(path, load_config(None, {"detector.thread": True, **same}))
    single = analyse_video(path, load_config(None, {"detector.thread": False, **same}))
    assert threaded.shot_starts == single.shot_starts and len(threaded.shot_starts) >= 2
    assert len(threaded.tracks) == len(single.tracks) >= 4
    assert len({t.shot for t in threaded.tracks}) >= 2
    for a, b in zip(threaded.tracks, single.tracks, strict=True):
        assert (a.track_id, a.shot) == (b.track_id, b.shot)
        for name in ("frames", "boxes", "landmarks", "qualities", "interpolated"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert a.factors.keys() == b.factors.keys()
        for name in a.factors:
            np.testing.assert_array_equal(a.factors[name], b.factors[name], err_msg=name)


def test_a_detector_error_reaches_the_caller(torch_threads):
    config = load_config(None, {"detector.thread": True})
    stages = build_stages(config)

    def broken(images):
        raise RuntimeError("detector broke")

    stages.detector.detect = broken
    with pytest.raises(RuntimeError, match="detector broke"):
        analyse_video(SAMPLES / "single_face_motion.mp4", config, stages)


def test_cpu_threads_are_shared_by_the_stage_threads(torch_threads):
    assert set_cpu_threads(None, stages=2) == max(1, usable_cpus() // 2)
    build_stages(load_config(None, {"quality.cpu_threads": 1}))
    assert torch.get_num_threads() == 1
    build_stages(load_config(None, {"detector.thread": False}))
    assert torch.get_num_threads() == usable_cpus()


def test_observations_merged_in_blocks_change_no_result(monkeypatch):
    # Observed batches are merged into blocks of arrays as they are scored (memory on long
    # videos); blocks of 2 batches must give the tracks one block at the end gives.
    import vidfiqa.pipeline.analyse as analyse

    path = SAMPLES / "group_walk.mp4"
    config = load_config(None, {"quality.cpu_threads": 1, "video.max_frames": 80})
    stages = build_stages(config)
    whole = analyse_video(path, config, stages)
    monkeypatch.setattr(analyse, "ROWS_BLOCK", 2)
    blocks = analyse_video(path, config, stages)
    assert len(whole.tracks) == len(blocks.tracks) >= 4
    for a, b in zip(whole.tracks, blocks.tracks, strict=True):
        assert a.track_id == b.track_id
        for name in ("frames", "boxes", "landmarks", "qualities", "interpolated"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        for name in a.factors:
            np.testing.assert_array_equal(a.factors[name], b.factors[name], err_msg=name)
