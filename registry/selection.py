"""Selection syntax for names on the command line: ``all``, comma lists and shell wildcards, each
name optionally with parameters: ``gaussian:sigma=0.5,erasing``, ``beta_vae:beta=4``,
``erasing:scale=0.3,value=1`` (a ``key=value`` item continues the previous name's parameters)."""

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


def variant_label(name: str, params: dict) -> str:
    """``name:key=value:...`` with the keys sorted; the bare name without parameters."""
    return name + "".join(f":{k}={v}" for k, v in sorted(params.items()))


def select_variants(selection: str, valid: list[str], kind: str) -> list[tuple[str, dict[str, str]]]:
    """Like :func:`select`, with parameters: a list of ``(name, {key: value})`` in registry order,
    the values still strings (each spec checks and converts its own). Parameters apply to every name a
    pattern matches; the same name with different parameters gives several variants."""
    items: list[tuple[str, dict[str, str]]] = []
    for token in (t.strip() for t in selection.split(",")):
        if "=" in token and ":" not in token and items:
            key, _, value = token.partition("=")
            items[-1][1][key.strip()] = value.strip()
            continue
        name, *assignments = token.split(":")
        params: dict[str, str] = {}
        for assignment in assignments:
            key, eq, value = assignment.partition("=")
            if not eq or not key.strip():
                raise SelectionError(
                    f"bad {kind} parameter {assignment!r} in {selection!r}: write NAME:KEY=VALUE, "
                    f"e.g. gaussian:sigma=0.5"
                )
            params[key.strip()] = value.strip()
        items.append((name, params))
    variants: dict[str, tuple[str, dict[str, str]]] = {}
    for name, params in items:
        for match in select(name, valid, kind):
            variants.setdefault(variant_label(match, params), (match, dict(params)))
    order = {n: i for i, n in enumerate(valid)}
    return sorted(variants.values(), key=lambda v: (order[v[0]], variant_label(*v)))
