"""Files written whole or not at all: a kill mid-write never leaves a partial file."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

__all__ = ["atomic_path", "save_figure", "write_text_atomic"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary path beside ``path`` to write to, renamed onto ``path`` when the block
    succeeds and removed when it fails.

    The rename is atomic on one file system, so ``path`` holds the old file or the whole
    new one, never part of it. The temporary name keeps the extension (matplotlib
    infers the format from it) and is hidden: ``.<stem>.<pid>.<random>.partial<ext>``.
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    partial = os.path.join(folder, f".{stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial{ext}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` whole (see :func:`atomic_path`)."""
    with atomic_path(path) as partial, open(partial, "w") as handle:
        handle.write(text)


def save_figure(figure: object, path: str | os.PathLike[str], **options: object) -> None:
    """``figure.savefig(path, **options)``, whole or not at all (see :func:`atomic_path`)."""
    with atomic_path(path) as partial:
        figure.savefig(partial, **options)  # type: ignore[attr-defined]
