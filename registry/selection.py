"""Selection syntax for names on the command line: ``all``, comma lists and shell wildcards."""

from __future__ import annotations

import difflib
from fnmatch import fnmatchcase

from .errors import SelectionError


def unknown_name_message(kind: str, name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f" - did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind} '{name}'{hint} Available: {', '.join(valid) or 'none installed'}"


def select(selection: str, valid: list[str], kind: str) -> list[str]:
    """Names in ``valid`` chosen by ``selection``, in the order of ``valid`` (sorted), without repeats.

    ``selection`` is ``all``, or a comma list of names and shell-style patterns (``'*vae'``,
    ``'ae,d*'``). An unknown name or a pattern matching nothing raises :class:`SelectionError`.
    """
    parts = [p.strip() for p in selection.split(",")]
    if not selection.strip() or any(not p for p in parts):
        raise SelectionError(
            f"empty {kind} selection {selection!r}: give 'all', names or patterns separated by commas. "
            f"Available: {', '.join(valid)}"
        )
    chosen: set[str] = set()
    for part in parts:
        if part == "all":
            chosen.update(valid)
        elif any(ch in part for ch in "*?["):
            matched = [n for n in valid if fnmatchcase(n, part)]
            if not matched:
                raise SelectionError(f"no {kind} matches '{part}'. Available: {', '.join(valid)}")
            chosen.update(matched)
        elif part in valid:
            chosen.add(part)
        else:
            raise SelectionError(unknown_name_message(kind, part, valid))
    return [n for n in valid if n in chosen]
