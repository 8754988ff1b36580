"""The ``vidfiqa`` command: one sub-command per user task; each parses, calls the library and
prints.

Data goes to stdout, progress and errors to stderr. Exit codes: 0 success, 1 a failure with a
one-line message (for several videos: any video failed), 2 usage errors. Shared option bundles
live in :mod:`vidfiqa.cli.options`.
"""

from __future__ import annotations

import click

from vidfiqa.cli import eval, models, store, video


@click.group(
    commands=[
        video.process,
        video.best_frames,
        video.probe,
        video.report,
        video.bench,
        store.search,
        store.verify,
        store.enroll,
        store.runs,
        store.tracks,
        store.templates,
        store.index,
        models.models,
        models.train,
        eval.eval_group,
    ]
)
@click.version_option(package_name="vidfiqa")
def cli() -> None:
    """vidfiqa: face-image-quality analytics on video."""


def main() -> None:
    cli()
