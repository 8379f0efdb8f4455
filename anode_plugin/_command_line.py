"""What the three commands (``anode``, ``anode-experiments``, ``anode-images``) share.

A user's mistake gets one short answer in every command: ``<prog>: error: <the
package's message>``, a hint, exit status 2; ``ANODE_TRACEBACK=1`` shows the whole
traceback instead. An error that is not a user's mistake (a bug, a failed solve) keeps
its traceback. Each command also checks its output folder before it trains, so a full
or unwritable disk is found before the runs, not after them.
"""

from __future__ import annotations

import errno
import itertools
import linecache
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

__all__ = [
    "ExplainedParserErrors",
    "OutputFolderError",
    "check_output_folder",
    "explain_parser_error",
    "run_command",
    "user_error_message",
]

TRACEBACK_VARIABLE = "ANODE_TRACEBACK"
_HINT = f"({TRACEBACK_VARIABLE}=1 shows the whole traceback.)"
_PACKAGE = os.path.dirname(os.path.abspath(__file__))
# Errors about a user's files, whoever raised them (Lightning for a missing
# `--ckpt_path`, the OS for a full disk): their message names the file.
_FILE_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG}
# A probe this size finds a disk too full for a run's results (its JSON, reports and
# figures take a few hundred KB) before the run rather than after it.
_PROBE_BYTES = 1 << 20
_NOT_FINITE = re.compile(
    r"Expected a <class '(?:float|int)'>\. Got value: ([+-]?(?:nan|inf(?:inity)?))\b",
    re.IGNORECASE,
)


class OutputFolderError(OSError):
    """An output folder cannot be created or written (missing parent, no permission, full)."""


def check_output_folder(
    folder: str | os.PathLike[str], *, option: str, before: str = "nothing was trained"
) -> Path:
    """Create ``folder`` if needed and check that a run's results can be written there.

    Writes and removes a 1 MiB probe file (flushed to the disk), so a read-only, full
    or missing location fails here, before any training, with the option named. A
    remote location (``s3://...``) is left to its file system.

    Args:
        folder: the output folder.
        option: the command-line option that gave it, e.g. ``'--output_dir'``.
        before: what the message says was not done yet.

    Returns:
        The folder as a ``Path``.

    Raises:
        OutputFolderError: the folder cannot be created or written.
    """
    path = Path(folder)
    if "://" in os.fspath(folder):
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-check-", dir=path)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(bytes(_PROBE_BYTES))
                stream.flush()
                try:
                    os.fsync(stream.fileno())
                except OSError as error:
                    # Some network and FUSE file systems cannot fsync a writable file
                    # (EINVAL, ENOTSUP): only a full, read-only or failing disk refuses.
                    if error.errno in _DISK_ERRNOS | {errno.EACCES, errno.EIO}:
                        raise
        finally:
            os.unlink(probe)
    except OSError as error:
        reason = error.strerror or str(error)
        if isinstance(error, FileExistsError | NotADirectoryError):
            reason = "a file is in the way: it must be a folder"
        refused = OutputFolderError(
            f"`{option}` {str(path)!r} cannot be written ({reason}); {before}. "
            "Give a folder on a disk with free space that you can write to."
        )
        refused.errno = error.errno
        raise refused from error
    return path


def explain_parser_error(message: str) -> str:
    """jsonargparse's parse error, with a line where its own words mislead.

    jsonargparse reads ``nan`` or ``inf`` on a command line as text, not a number, and
    says "Expected a float. Got value: nan"; no option takes a non-finite number.
    """
    match = _NOT_FINITE.search(message)
    if match is None:
        return message
    return (
        f"{message}\n  ({match.group(1)!r} is not a finite number: every numeric option "
        "takes a finite value.)"
    )


def user_error_message(error: BaseException, argv: Sequence[str] = ()) -> str | None:
    """The short answer to a user's mistake, or ``None`` when ``error`` is not one.

    A user's mistake is an error the package raised about an input (a ``ValueError``,
    ``TypeError`` or ``OSError`` from the package's own code, also when jsonargparse or
    Lightning wrapped it), a missing or unwritable file, a full disk, or a configuration
    file that is not text. Anything else (a bug, a failed solve) is not.

    Args:
        error: the exception the command raised.
        argv: the command's arguments, to name a configuration file that is not text.
    """
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and all(cause is not seen for seen in chain):
        chain.append(cause)
        # `raise ... from None` hides the context: the package has already said it.
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    for item in chain:
        if "No supported gpu backend found" in str(item):
            return (
                "the trainer was asked for a GPU (`--trainer.accelerator gpu`), but PyTorch "
                "finds none on this machine (torch.cuda.is_available() is False). Use "
                "`--trainer.accelerator cpu`, or `auto` to take a GPU where there is one."
            )
        if isinstance(item, UnicodeDecodeError):
            return _not_text(item, argv)
        if isinstance(item, ValueError | TypeError | OSError) and _raised_by_package(item):
            return str(item)
        if isinstance(item, _FILE_ERRORS) or (
            isinstance(item, OSError) and item.errno in _DISK_ERRNOS
        ):
            return str(item)
    return None


def run_command(prog: str, body: Callable[[], int | None], argv: Sequence[str] | None) -> int:
    """Run a command's ``body``; answer a user's mistake in the short form.

    Args:
        prog: the command's name, printed before the message.
        body: the command; returns its exit status (``None``: 0).
        argv: the command's arguments (``None``: ``sys.argv[1:]``), to name files.

    Returns:
        ``body``'s exit status.

    Raises:
        SystemExit: status 2 after a user's mistake (unless ``ANODE_TRACEBACK`` is set).
    """
    try:
        status = body()
    except Exception as error:
        message = user_error_message(error, sys.argv[1:] if argv is None else argv)
        if message is None or os.environ.get(TRACEBACK_VARIABLE, "0") not in ("", "0"):
            raise
        _exit_with(prog, message)
    return 0 if status is None else status


class ExplainedParserErrors:
    """Mixin for a jsonargparse parser: its errors pass :func:`explain_parser_error`."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        super().error(explain_parser_error(message), ex)  # type: ignore[misc]


def _exit_with(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    print(_HINT, file=sys.stderr)
    raise SystemExit(2) from None


def _raised_by_package(error: BaseException) -> bool:
    """Whether a ``raise`` statement of the package raised ``error``: a deliberate answer
    to an input. An operation that failed on a package line (``None + 1``, a torch call)
    is a bug, and keeps its traceback."""
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None or not frame.tb_frame.f_code.co_filename.startswith(_PACKAGE):
        return False
    line = linecache.getline(frame.tb_frame.f_code.co_filename, frame.tb_lineno)
    return line.lstrip().startswith("raise ")


def _not_text(error: UnicodeDecodeError, argv: Sequence[str]) -> str:
    configs = [
        value for option, value in itertools.pairwise(argv) if option in ("--config", "-c")
    ] + [item.split("=", 1)[1] for item in argv if item.startswith("--config=")]
    what = f"the configuration file {configs[-1]!r}" if configs else "a file the command read"
    return (
        f"{what} is not text (UTF-8): byte {error.object[error.start : error.start + 1]!r} "
        f"at position {error.start}. A configuration is a YAML or JSON text file."
    )
