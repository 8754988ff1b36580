"""SQL store (SQLAlchemy 2.x): everything a run produced, reproducible from the database.

SQLite by default (``sqlite:///vidfiqa.db``, WAL journal and a busy timeout), any SQLAlchemy URL
otherwise (PostgreSQL is tested). One video's results are written in one transaction, so an
interrupted run leaves either all of a video or nothing of it.

Vectors are stored as little-endian float32 bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, SQLAlchemyError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

#: Bumped on every schema change. A database of an older version with a migration below is
#: brought up to date by the first command that writes to it (and read as it is until then); any
#: other version is refused.
SCHEMA_VERSION = 3
#: Statements that take a database from a version to the next. Additive only: no stored row is
#: changed, so a migration cannot lose data.
_MIGRATIONS: dict[int, list[str]] = {
    2: ["ALTER TABLE runs ADD COLUMN status VARCHAR(16)"],  # 3: running | finished | interrupted
}


class StoreError(Exception):
    """A store that cannot be opened or used; the message is one line."""


def now() -> datetime:
    return datetime.now(UTC)


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Run(Base):
    """One invocation of a command that wrote to the store."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    command: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: running, finished or interrupted (Ctrl-C); null in runs recorded before schema version 3.
    #: Deferred: a read-only command reads a version-2 database, which has no such column.
    status: Mapped[str | None] = mapped_column(String(16), deferred=True)


class Video(Base):
    """A video file processed with one configuration (``config_hash``)."""

    __tablename__ = "videos"
    __table_args__ = (UniqueConstraint("sha256", "config_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    config_hash: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    status: Mapped[str] = mapped_column(String(16))  # done | partial | failed
    reason: Mapped[str | None] = mapped_column(Text)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    frame_count: Mapped[int | None] = mapped_column(Integer)
    #: Packets the decoder rejected and frames it flagged corrupt, both skipped.
    damaged_packets: Mapped[int] = mapped_column(Integer, default=0)
    damaged_frames: Mapped[int] = mapped_column(Integer, default=0)
    #: ``[first frame index, width, height]`` per run of frames of one size (several when the
    #: stream changes resolution; boxes are in the pixels of their own frame).
    sizes: Mapped[list[list[int]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    run: Mapped[Run] = relationship()
    tracks: Mapped[list[TrackRow]] = relationship(
        back_populates="video",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="TrackRow.track_index",
    )


class Label(Base):
    __tablename__ = "labels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)


class TrackRow(Base):
    """A face track of a video; ``label`` names the person once enrolled."""

    __tablename__ = "tracks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    track_index: Mapped[int] = mapped_column(Integer)
    shot: Mapped[int] = mapped_column(Integer)
    first_frame: Mapped[int] = mapped_column(Integer)
    last_frame: Mapped[int] = mapped_column(Integer)
    label_id: Mapped[int | None] = mapped_column(ForeignKey("labels.id"))
    video: Mapped[Video] = relationship(back_populates="tracks")
    label: Mapped[Label | None] = relationship()
    observations: Mapped[list[ObservationRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ObservationRow.frame_index"
    )
    templates: Mapped[list[TemplateRow]] = relationship(
        back_populates="track", cascade="all, delete-orphan", passive_deletes=True
    )


class ObservationRow(Base):
    """One face of one track in one frame: geometry, quality and its factors."""

    __tablename__ = "observations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    frame_index: Mapped[int] = mapped_column(Integer)
    time: Mapped[float] = mapped_column(Float)
    box: Mapped[list[float]] = mapped_column(JSON)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    detector_score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    factors: Mapped[dict[str, float]] = mapped_column(JSON)
    interpolated: Mapped[bool] = mapped_column(Boolean)
    landmarks_estimated: Mapped[bool] = mapped_column(Boolean)


class EmbeddingRow(Base):
    """Cached embedding of one observation by one model."""

    __tablename__ = "embeddings"
    observation_id: Mapped[int] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class TemplateRow(Base):
    """One vector per track, strategy, quality scorer and embedding model."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("track_id", "strategy", "scorer", "model"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    strategy: Mapped[str] = mapped_column(String(64))
    scorer: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    frames: Mapped[list[int]] = mapped_column(JSON)
    weights: Mapped[list[float]] = mapped_column(JSON)
    track: Mapped[TrackRow] = relationship(back_populates="templates")

    @property
    def array(self) -> np.ndarray:
        return from_bytes(self.vector)

    def quality(self) -> dict[str, float]:
        """The template's quality from its track's stored observations (loaded; ``frames`` are
        frame indices): ``quality``,
        the mean quality of the frames that made it, weighted as they were aggregated, and
        ``quality_max``, the best of them; NaN when its frames are not stored."""
        by_frame = {o.frame_index: o.quality for o in self.track.observations}
        if not self.frames or any(f not in by_frame for f in self.frames):
            return {"quality": float("nan"), "quality_max": float("nan")}
        q = np.array([by_frame[f] for f in self.frames], np.float64)
        w = np.asarray(self.weights, np.float64)
        return {"quality": round(float((w * q).sum() / w.sum()), 6), "quality_max": round(float(q.max()), 6)}


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers work beside a writer; it is a property of the file, set by writers only.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The timeout makes a second writer wait, not fail.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_immediate(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would open transactions itself, lazily at the first write, so a read-then-write
    # transaction could act on a read another writer has made stale; SQLAlchemy's "begin" event
    # below opens each one with BEGIN IMMEDIATE instead, taking the write lock up front.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


#: PostgreSQL advisory lock held while the schema is created and checked.
_SCHEMA_LOCK = 0x7669_6466


def _video_lock(sha256: str, config_hash: str) -> int:
    """A signed 64-bit advisory-lock key for one (file, configuration)."""
    digest = hashlib.sha256(f"{sha256}:{config_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _migratable(version: int) -> bool:
    """Whether a database of ``version`` can be brought to :data:`SCHEMA_VERSION`."""
    return version == SCHEMA_VERSION or (
        version < SCHEMA_VERSION and all(v in _MIGRATIONS for v in range(version, SCHEMA_VERSION))
    )


def _redact(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def database_url(text: str) -> str:
    """``text`` as a SQLAlchemy URL: a URL as given, a plain path (``vidfiqa.db``, no ``://``)
    as the SQLite file there."""
    if "://" in text:
        return text
    return f"sqlite:///{text}"


class Store:
    """Opens the database (creating it and its tables when ``create``) and checks its schema
    version.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///vidfiqa.db`` or
            ``postgresql+psycopg://user@host/db``, or the path of a SQLite file.
        create: create the database file and the tables when missing. Commands that only read
            pass ``False``: a mistyped URL is then refused instead of answered with an empty,
            newly created database.

    Raises:
        StoreError: bad URL, unreachable server, a database of another schema version, or
            (``create=False``) a database that does not exist or holds no vidfiqa tables.
    """

    def __init__(self, url: str, *, create: bool = True):
        #: The database as messages name it: the path as given, or the URL without its password.
        self.name = url if "://" not in url else _redact(url)
        url = self.url = database_url(url)
        try:
            self.engine: Engine = create_engine(url)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(f"{self.name}: cannot use database URL ({exc})") from None
        if self.engine.dialect.name == "sqlite":
            if not create:
                self._require_sqlite_file()
            else:
                event.listen(self.engine, "connect", _sqlite_wal)
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "connect", _sqlite_immediate)
            event.listen(self.engine, "begin", _sqlite_begin)
        try:
            self._open_schema(create)
        except DatabaseError as exc:  # unreachable server, or a file that is no database
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreError(f"{self.name}: cannot open database ({reason})") from None

    def _require_sqlite_file(self) -> None:
        database = self.engine.url.database
        if not database or database == ":memory:" or not Path(database).is_file():
            raise StoreError(f"{self.name}: no such database; 'vidfiqa process' creates it, or pass --db")

    def _open_schema(self, create: bool) -> None:
        # One transaction under a lock, so that processes starting together on a new database
        # neither race to create the tables nor both write the version row.
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            if create:
                Base.metadata.create_all(conn)
            elif not inspect(conn).has_table(Meta.__tablename__):
                raise StoreError(
                    f"{self.name}: not a vidfiqa database (no vidfiqa tables); "
                    "'vidfiqa process' creates one, or pass --db"
                )
            value = conn.scalar(select(Meta.value).where(Meta.key == "schema_version"))
            if value is None and create:
                conn.execute(insert(Meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
                value = str(SCHEMA_VERSION)
            version = int(value) if value is not None and value.isdigit() else None
            if version is None or not _migratable(version):
                raise StoreError(
                    f"{self.name}: database schema version {value}, this vidfiqa "
                    f"needs {SCHEMA_VERSION}; use a new database or an older vidfiqa"
                )
            if create:  # a writer brings an older database up to date, in this locked transaction
                for step in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[step]:
                        conn.execute(text(statement))
                conn.execute(
                    update(Meta).where(Meta.key == "schema_version").values(value=str(SCHEMA_VERSION))
                )
                version = SCHEMA_VERSION
            #: The version of the database as opened (older only for read-only commands).
            self.schema_version = version

    @property
    def has_run_status(self) -> bool:
        return self.schema_version >= 3

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                with s.begin():
                    yield s
            except SQLAlchemyError as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise StoreError(f"{self.name}: {reason}") from None

    def close(self) -> None:
        self.engine.dispose()

    # Runs -------------------------------------------------------------------------------------

    def start_run(self, command: str, config: dict[str, Any], versions: dict[str, Any]) -> int:
        with self.session() as s:
            run = Run(command=command, config=config, versions=versions, status="running")
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        """Record the end of a run: ``finished``, or ``interrupted`` (Ctrl-C)."""
        with self.session() as s:
            run = s.get(Run, run_id)
            run.finished_at, run.status = now(), status

    def runs(self) -> list[dict[str, Any]]:
        """Runs in order, each with its command, times and the ids and statuses of the videos it
        stored (a video skipped as already stored belongs to the run that stored it)."""
        with self.session() as s:
            videos: dict[int, list[tuple[int, str]]] = {}
            for vid, run_id, status in s.execute(select(Video.id, Video.run_id, Video.status)):
                videos.setdefault(run_id, []).append((vid, status))
            return [
                {
                    "run_id": r.id,
                    "command": r.command,
                    "status": self._run_status(r),
                    "started_at": r.started_at.isoformat(),
                    "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                    "video_ids": sorted(v for v, _ in videos.get(r.id, [])),
                    "statuses": dict(sorted(Counter(st for _, st in videos.get(r.id, [])).items())),
                }
                for r in s.scalars(select(Run).order_by(Run.id))
            ]

    def _run_status(self, run: Run) -> str | None:
        # Runs recorded before schema version 3 have no status: a finish time means finished;
        # without one, the run was killed or is still going, which the row cannot tell.
        status = run.status if self.has_run_status else None
        return status or ("finished" if run.finished_at else None)

    def run_exists(self, run_id: int) -> bool:
        with self.session() as s:
            return s.get(Run, run_id) is not None

    def last_run_id(self) -> int | None:
        with self.session() as s:
            return s.scalar(select(Run.id).order_by(Run.id.desc()).limit(1))

    def video_ids_of_run(self, run_id: int) -> list[int]:
        with self.session() as s:
            return list(s.scalars(select(Video.id).where(Video.run_id == run_id).order_by(Video.id)))

    def stored_video(self, video_id: int) -> Video | None:
        """A video with its run, and its tracks with their observations, templates and label, all
        loaded: usable after the session has closed."""
        tracks = selectinload(Video.tracks)
        stmt = (
            select(Video)
            .where(Video.id == video_id)
            .options(
                joinedload(Video.run),
                tracks.selectinload(TrackRow.observations),
                tracks.selectinload(TrackRow.templates),
                tracks.joinedload(TrackRow.label),
            )
        )
        with self.session() as s:
            return s.scalar(stmt)

    # Videos -----------------------------------------------------------------------------------

    def find_video(self, sha256: str, config_hash: str) -> Video | None:
        with self.session() as s:
            return s.scalar(select(Video).where(Video.sha256 == sha256, Video.config_hash == config_hash))

    def template_ids_of_video(self, video_id: int) -> list[int]:
        with self.session() as s:
            stmt = select(TemplateRow.id).join(TrackRow).where(TrackRow.video_id == video_id)
            return list(s.scalars(stmt))

    def template_ids_of_file(self, sha256: str) -> list[int]:
        """The templates of every stored copy of one file (its content, under any configuration
        or path)."""
        with self.session() as s:
            stmt = select(TemplateRow.id).join(TrackRow).join(Video).where(Video.sha256 == sha256)
            return list(s.scalars(stmt))

    def strategies(self) -> list[str]:
        """The distinct strategies of the stored templates, sorted."""
        with self.session() as s:
            return sorted(s.scalars(select(TemplateRow.strategy).distinct()))

    def replace_video(
        self,
        video: Video,
        tracks: list[TrackRow],
        embeddings: list[tuple[int, int, str, np.ndarray]],
        observations: Sequence[Iterable[dict[str, Any]]] | None = None,
    ) -> int:
        """Write one video and everything under it in one transaction.

        A stored video with the same ``sha256`` and ``config_hash`` is deleted first (with its
        tracks, observations, embeddings and templates), in the same transaction.

        Args:
            video: the video row (unsaved).
            tracks: its tracks with templates, and observations unless ``observations`` gives
                them (unsaved).
            embeddings: ``(track position, observation position, model, vector)``.
            observations: per track, its observations as column values (``ObservationRow``'s
                columns but ``id`` and ``track_id``), inserted in chunks of
                :data:`INSERT_CHUNK` rows without ORM objects: a long video's observations
                then take no more memory than a chunk.

        Returns:
            The new video id.
        """
        with self.session() as s:
            if self.engine.dialect.name == "postgresql":
                # Two runs storing the same video serialise here, so the second replaces the
                # first instead of both inserting (SQLite's BEGIN IMMEDIATE does the same).
                s.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": _video_lock(video.sha256, video.config_hash)},
                )
            old = s.scalar(
                select(Video).where(Video.sha256 == video.sha256, Video.config_hash == video.config_hash)
            )
            if old is not None:
                s.delete(old)
                s.flush()
            video.tracks = tracks
            s.add(video)
            s.flush()
            if observations is None:
                ids = [[o.id for o in track.observations] for track in tracks]
            else:
                pairs = zip(tracks, observations, strict=True)
                ids = [_insert_observations(s, track.id, rows) for track, rows in pairs]
            values = (
                {"observation_id": ids[t][o], "model": model, "vector": to_bytes(vector)}
                for t, o, model, vector in embeddings
            )
            for chunk in _chunks(values):
                s.execute(insert(EmbeddingRow), chunk)
            return video.id

    def longest_track(self, video_id: int) -> int | None:
        """Id of the video's track with the most observations (ties: the first), if any."""
        stmt = (
            select(TrackRow.id, func.count(ObservationRow.id))
            .outerjoin(ObservationRow, ObservationRow.track_id == TrackRow.id)
            .where(TrackRow.video_id == video_id)
            .group_by(TrackRow.id)
        )
        with self.session() as s:
            counts = list(s.execute(stmt))
        if not counts:
            return None
        return max(counts, key=lambda row: (row[1], -row[0]))[0]

    def longest_track_templates(
        self, path: str, strategy: str | None = None, *, model: str | None = None
    ) -> list[TemplateRow]:
        """The templates (of ``strategy`` and ``model``, or all) of the longest track, by
        observation count (see :meth:`longest_track`), of the most recently stored video at
        ``path`` that has such templates: what "a video" means wherever one stands for a person."""
        with self.session() as s:
            ids = list(s.scalars(select(Video.id).where(Video.path == path).order_by(Video.id.desc())))
        for video_id in ids:
            track = self.longest_track(video_id)
            rows = [] if track is None else self.templates(track_id=track, strategy=strategy, model=model)
            if rows:
                return rows
        return []

    def embedded_observations(self, track_id: int, model: str) -> tuple[list[ObservationRow], np.ndarray]:
        """The track's observations that have an embedding by ``model``, in frame order, and
        those embeddings as float32 ``(n, d)``."""
        with self.session() as s:
            stmt = (
                select(ObservationRow, EmbeddingRow.vector)
                .join(EmbeddingRow, EmbeddingRow.observation_id == ObservationRow.id)
                .where(ObservationRow.track_id == track_id, EmbeddingRow.model == model)
                .order_by(ObservationRow.frame_index)
            )
            rows = list(s.execute(stmt))
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        return [r[0] for r in rows], np.stack([from_bytes(r[1]) for r in rows])

    def videos(self) -> list[Video]:
        with self.session() as s:
            return list(s.scalars(select(Video).order_by(Video.id)))

    # Tracks, templates, labels ----------------------------------------------------------------

    def tracks(self, video_id: int | None = None) -> list[dict[str, Any]]:
        """Tracks with their video path, label and observation count."""
        with self.session() as s:
            stmt = select(TrackRow).join(Video).order_by(TrackRow.id)
            if video_id is not None:
                stmt = stmt.where(TrackRow.video_id == video_id)
            return [
                {
                    "track_id": t.id,
                    "video_id": t.video_id,
                    "video": t.video.path,
                    "track_index": t.track_index,
                    "shot": t.shot,
                    "first_frame": t.first_frame,
                    "last_frame": t.last_frame,
                    "observations": len(t.observations),
                    "label": t.label.name if t.label else None,
                    # The track gate's flag (vidfiqa.quality.track_factors): no face, no template.
                    "no_face": any(o.factors.get("track_gate", 1) == 0 for o in t.observations[:1]),
                    "best_quality": round(max(o.quality for o in t.observations), 6)
                    if t.observations
                    else None,
                    "templates": [
                        {"template_id": r.id, "strategy": r.strategy, **r.quality()} for r in t.templates
                    ],
                }
                for t in s.scalars(stmt)
            ]

    def templates(self, **filters: Any) -> list[TemplateRow]:
        """Templates, optionally filtered by column values (``strategy``, ``model``, ...)."""
        with self.session() as s:
            stmt = select(TemplateRow).order_by(TemplateRow.id)
            for column, value in filters.items():
                if value is not None:
                    stmt = stmt.where(getattr(TemplateRow, column) == value)
            rows = list(s.scalars(stmt))
            for r in rows:  # load what callers read after the session closes
                _ = r.track.video.path, r.track.label, r.track.observations
            return rows

    def template(self, template_id: int) -> TemplateRow | None:
        rows = self.templates(id=template_id)
        return rows[0] if rows else None

    def spaces(self) -> list[tuple[str, str, str]]:
        """Distinct ``(model, strategy, scorer)`` of the stored templates."""
        with self.session() as s:
            stmt = select(TemplateRow.model, TemplateRow.strategy, TemplateRow.scorer).distinct()
            return sorted(tuple(r) for r in s.execute(stmt))

    def vectors(self, model: str, strategy: str, scorer: str) -> tuple[np.ndarray, np.ndarray]:
        """Template ids int64 ``(n,)`` and vectors float32 ``(n, d)`` of one space."""
        with self.session() as s:
            stmt = (
                select(TemplateRow.id, TemplateRow.vector, TemplateRow.dim)
                .where(
                    TemplateRow.model == model, TemplateRow.strategy == strategy, TemplateRow.scorer == scorer
                )
                .order_by(TemplateRow.id)
            )
            rows = list(s.execute(stmt))
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.array([r[0] for r in rows], np.int64)
        return ids, np.stack([from_bytes(r[1]) for r in rows])

    def label_track(self, track_id: int, name: str) -> None:
        with self.session() as s:
            track = s.get(TrackRow, track_id)
            if track is None:
                raise StoreError(f"no track {track_id} in {self.name}")
            label = s.scalar(select(Label).where(Label.name == name))
            if label is None:
                label = Label(name=name)
                s.add(label)
            track.label = label

    def delete_video(self, video_id: int) -> None:
        with self.session() as s:
            s.execute(delete(Video).where(Video.id == video_id))


def config_json(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a pydantic config."""
    return json.loads(config.model_dump_json())


#: Rows per INSERT when observations and embeddings are written in bulk (see Store.replace_video).
INSERT_CHUNK = 1000


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == INSERT_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert_observations(s: Session, track_id: int, rows: Iterable[dict[str, Any]]) -> list[int]:
    """Insert one track's observations, chunk by chunk; their ids, in the order given."""
    stmt = insert(ObservationRow).returning(ObservationRow.id, sort_by_parameter_order=True)
    ids: list[int] = []
    for chunk in _chunks({"track_id": track_id, **row} for row in rows):
        ids += s.scalars(stmt, chunk).all()
    return ids
