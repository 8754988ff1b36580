import numpy as np
import pytest
from sqlalchemy import func, select, update

from vidfiqa.store.db import (
    SCHEMA_VERSION,
    EmbeddingRow,
    Meta,
    ObservationRow,
    Store,
    StoreError,
    TemplateRow,
    TrackRow,
    Video,
    from_bytes,
    to_bytes,
)


def video_rows(sha: str = "a" * 64, *, tracks: int = 2, vector_seed: int = 0) -> tuple[Video, list[TrackRow]]:
    rng = np.random.default_rng(vector_seed)
    video = Video(path=f"/v/{sha[:4]}.mp4", sha256=sha, config_hash="c" * 64, run_id=1, status="done")
    rows = []
    for t in range(tracks):
        obs = [
            ObservationRow(
                frame_index=i,
                time=i / 25,
                box=[0.0, 0.0, 10.0, 10.0],
                landmarks=[[1.0, 2.0]] * 5,
                detector_score=1.0,
                quality=0.5,
                factors={"sharpness": 0.5},
                interpolated=False,
                landmarks_estimated=False,
            )
            for i in range(3)
        ]
        v = rng.normal(size=4).astype(np.float32)
        tmpl = TemplateRow(
            strategy="best",
            scorer="factors",
            model="m",
            dim=4,
            vector=to_bytes(v / np.linalg.norm(v)),
            frames=[0],
            weights=[1.0],
        )
        rows.append(
            TrackRow(track_index=t, shot=0, first_frame=0, last_frame=2, observations=obs, templates=[tmpl])
        )
    return video, rows


def counts(store: Store) -> dict[str, int]:
    with store.session() as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m))
            for m in (Video, TrackRow, ObservationRow, TemplateRow, EmbeddingRow)
        }


def test_write_read_and_replace_without_duplicates(db_url: str) -> None:
    store = Store(db_url)
    run = store.start_run("test", {"a": 1}, {"vidfiqa": "0"})
    assert run == 1
    video, tracks = video_rows()
    vid = store.replace_video(video, tracks, [(0, 1, "m", np.ones(4, np.float32))])
    assert counts(store) == {"videos": 1, "tracks": 2, "observations": 6, "templates": 2, "embeddings": 1}
    assert store.find_video("a" * 64, "c" * 64).id == vid
    ids, vectors = store.vectors("m", "best", "factors")
    assert len(ids) == 2 and vectors.shape == (2, 4) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, rtol=1e-6)
    # The same content and config again replaces, in one transaction, never duplicates.
    video, tracks = video_rows(tracks=3)
    store.replace_video(video, tracks, [])
    assert counts(store) == {"videos": 1, "tracks": 3, "observations": 9, "templates": 3, "embeddings": 0}
    assert store.spaces() == [("m", "best", "factors")]
    store.close()


def test_failed_write_leaves_nothing_behind(db_url: str) -> None:
    store = Store(db_url)
    store.start_run("test", {}, {})
    video, tracks = video_rows()
    store.replace_video(video, tracks, [])
    before = counts(store)
    video, tracks = video_rows(tracks=2)
    tracks[1].templates.append(  # violates unique (track, strategy, scorer, model) mid-write
        TemplateRow(
            strategy="best",
            scorer="factors",
            model="m",
            dim=4,
            vector=to_bytes(np.ones(4)),
            frames=[0],
            weights=[1.0],
        )
    )
    with pytest.raises(StoreError):
        store.replace_video(video, tracks, [])
    assert counts(store) == before  # the old video survives the failed replacement
    store.close()


def test_labels_and_listing(db_url: str) -> None:
    store = Store(db_url)
    store.start_run("test", {}, {})
    video, tracks = video_rows()
    store.replace_video(video, tracks, [])
    track_id = store.tracks()[0]["track_id"]
    store.label_track(track_id, "alice")
    store.label_track(track_id, "alice")  # idempotent
    listed = store.tracks()
    assert listed[0]["label"] == "alice" and listed[1]["label"] is None
    assert store.templates(strategy="best")[0].track.label.name == "alice"
    with pytest.raises(StoreError, match="no track 999"):
        store.label_track(999, "bob")
    store.close()


def test_schema_version_mismatch_is_refused(db_url: str) -> None:
    store = Store(db_url)
    with store.session() as s:
        s.execute(update(Meta).where(Meta.key == "schema_version").values(value="0"))
    store.close()
    with pytest.raises(StoreError, match=f"database schema version 0, this vidfiqa needs {SCHEMA_VERSION}"):
        Store(db_url)


def test_bad_urls() -> None:
    with pytest.raises(StoreError, match="cannot use database URL"):
        Store("nosuchdialect://x")
    with pytest.raises(StoreError, match="cannot open database"):
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_a_file_that_is_no_database_is_refused_and_left_alone(tmp_path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"my notes, not SQLite" * 100)
    with pytest.raises(StoreError, match=r"notes.db: cannot open database \(file is not a database\)"):
        Store(f"sqlite:///{path}")
    assert path.read_bytes() == b"my notes, not SQLite" * 100


def test_vector_bytes_round_trip() -> None:
    v = np.random.default_rng(1).normal(size=7).astype(np.float32)
    np.testing.assert_array_equal(from_bytes(to_bytes(v)), v)


def test_a_version_2_database_is_read_as_it_is_and_brought_up_to_date_by_a_writer(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    store = Store(f"sqlite:///{path}")
    done = store.start_run("process", {}, {})
    store.finish_run(done)
    store.start_run("process", {}, {})  # killed: never finished
    video, tracks = video_rows()
    video.run_id = done
    video_id = store.replace_video(video, tracks, [])
    store.close()
    with sqlite3.connect(path) as con:  # as vidfiqa wrote schema version 2: runs had no status
        con.execute("ALTER TABLE runs DROP COLUMN status")
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")

    def columns() -> list[str]:
        with sqlite3.connect(path) as con:
            return [row[1] for row in con.execute("PRAGMA table_info(runs)")]

    reader = Store(str(path), create=False)
    assert reader.schema_version == 2
    assert [r["status"] for r in reader.runs()] == ["finished", None]
    assert reader.stored_video(video_id).run.command == "process"
    reader.close()
    assert "status" not in columns()  # a read-only command changed nothing
    writer = Store(str(path))
    assert writer.schema_version == SCHEMA_VERSION == 3 and "status" in columns()
    interrupted = writer.start_run("process", {}, {})
    writer.finish_run(interrupted, "interrupted")
    assert [r["status"] for r in writer.runs()] == ["finished", None, "interrupted"]
    assert counts(writer)["tracks"] == 2  # nothing stored was lost
    writer.close()
