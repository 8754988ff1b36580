"""Name -> model, through the catalogue (:mod:`vidfiqa.models.records`): configs and the CLI pick
models by name, and each record's builder imports its module on the first build only.

:mod:`vidfiqa.build` turns a config into the options a record ``takes`` and calls :func:`create`.
"""

from __future__ import annotations

from typing import Any

from vidfiqa.models.records import Kind, record
from vidfiqa.models.records import names as _names


def names(kind: Kind) -> list[str]:
    """Catalogued names of one kind, sorted."""
    return sorted(_names(kind))


def create(kind: Kind, name: str, **options: Any) -> Any:
    """Build the model catalogued as ``name``, with ``options`` besides its record's fixed ones.

    Raises:
        KeyError: no such name (the message lists the known ones).
    """
    return record(kind, name).builder(**options)


def embedder_threshold(name: str, far: float | None = None) -> tuple[float, float | None]:
    """The verification threshold of embedder ``name`` and the FAR it stands for, without
    building the model (comparing stored templates never needs its weights).

    An embedder calibrated by ``vidfiqa models calibrate`` (see :mod:`vidfiqa.models.thresholds`)
    gives its threshold at ``far`` (default 1e-3); another one its record's documented threshold,
    whose FAR is unknown (``None``; then ``far`` must not be given).

    Raises:
        KeyError: an unknown embedder.
        ValueError: ``far`` not calibrated for this embedder.
    """
    from vidfiqa.models.thresholds import DEFAULT_FAR, calibration

    embedder = record("embedder", name)
    calibrated = calibration(name)
    if calibrated is not None:
        far = DEFAULT_FAR if far is None else far
        return calibrated.threshold_at(far), far
    if far is not None:
        raise ValueError(f"{name}: no calibrated thresholds; pass --threshold")
    if embedder.threshold is None:
        raise ValueError(f"{name}: no calibrated or documented threshold; pass --threshold")
    return embedder.threshold, None
