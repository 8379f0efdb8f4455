"""Every error the troubleshooting page lists is raised, with its message, by some test."""

from __future__ import annotations

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


def _pinned_text() -> str:
    """The tests' sources, as words (messages are pinned by ``pytest.raises(match=...)``)."""
    sources = (p.read_text() for p in (ROOT / "tests").glob("test_*.py") if p != Path(__file__))
    return " ".join(_words("\n".join(sources)))


def _fragments(message: str) -> list[str]:
    """Runs of three words of a message opening, between its placeholders (``...``, N)."""
    runs = re.split(r"\S*\.\.\.\S*|\bN\b", message)
    fragments = []
    for run in runs:
        words = _words(run)
        size = min(3, len(words))
        fragments += [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]
    return [f for f in fragments if f]


@pytest.mark.parametrize("message", _messages())
def test_the_error_is_pinned_by_a_test(message):
    pinned = _pinned_text()
    assert any(fragment in pinned for fragment in _fragments(message)), (
        f"No test raises the troubleshooting page's error {message!r}: pin it with "
        "pytest.raises(..., match=...)."
    )


def test_the_page_lists_errors():
    assert len(_messages()) >= 30
