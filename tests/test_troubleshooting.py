"""Every error the troubleshooting page lists is raised, with its message, by some test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "guides" / "troubleshooting.md"


def _messages() -> list[str]:
    """The message openings of the page's tables: ``` ``text`` ``` spans in first columns."""
    found = []
    for line in PAGE.read_text().splitlines():
        if line.startswith("| ") and not line.startswith(("| ---", "| message", "| exception")):
            first_column = line.split(" | ")[0]
            found.extend(re.findall(r"`` (.+?) ``", first_column))
    return found


def _words(text: str) -> list[str]:
    """Words without backticks or regex escapes: `match=` patterns and the page compare."""
    return re.sub(r"\\(.)", r"\1", text.replace("`", "")).split()


def _normal(text: str) -> str:
    """Text without backticks, regex escapes and repeated spaces, for comparison."""
    return " ".join(_words(text))


def _test_literals() -> list[str]:
    """Every string literal of the tests, normalised: the messages they pin with
    ``match=``, directly or through a parametrised table. An f-string is split at its
    placeholders, each constant part a literal of its own."""
    literals = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if path == Path(__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.append(_normal(node.value))
    return [text for text in literals if text]


def _runs(message: str) -> list[str]:
    """The literal runs of a message opening, between its placeholders (``...``, N)."""
    runs = (_normal(run) for run in re.split(r"\S*\.\.\.\S*|\bN\b", message))
    return [run for run in runs if run]


def pinned(message: str, literals: list[str]) -> bool:
    """Whether each literal run of ``message`` is, whole, part of one string of the tests.

    A run must appear entire in a single literal: three words found anywhere in the
    test sources (the check this replaces) pinned invented messages and messages of
    which one word ("and", "exceeds") appeared somewhere.
    """
    return all(any(run in text for text in literals) for run in _runs(message))


@pytest.mark.parametrize("message", _messages())
def test_the_error_is_pinned_by_a_test(message):
    assert pinned(message, _test_literals()), (
        f"No test raises the troubleshooting page's error {message!r}: pin its whole "
        "opening with pytest.raises(..., match=...)."
    )


@pytest.mark.parametrize(
    "invented",
    [
        "The model must be a banana",
        "`zorgle` must be one of quux",
        "`atol` must be a positive finite number and exceeds",
    ],
)
def test_an_invented_message_is_not_pinned(invented):
    # The old check counted these as pinned: each shares three words with some test.
    assert not pinned(invented, _test_literals())


def test_the_page_lists_errors():
    assert len(_messages()) >= 30
