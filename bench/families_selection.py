"""``--families``: which metric families a run computes, checked against what the grid can serve."""

from __future__ import annotations

from typing import Any, Sequence

from registry import BenchError, Registry, SelectionError
from registry.selection import unknown_name_message


def parse_families(given: str | Sequence[str] | None, registry: Registry, defaults: Sequence[str]) -> tuple[
        list[str], list[str]]:
    """The families to compute and those the user named. ``None``: the profile's ``defaults``; ``"all"``:
    every installed family (``"all,-generative"``: but those); ``"reconstruction,latent"``: exactly
    those; ``"+generative"``: the defaults and
    those (every name starting with ``+`` adds); ``"-downstream"`` (``--families=-downstream`` on the command
    line): the defaults without it (every name starting with ``-`` removes)."""
    if given is None:
        return list(defaults), []
    listed = given.split(",") if isinstance(given, str) else list(given) if isinstance(given, (list, tuple)) else None
    parts = [p.strip() for p in listed] if listed is not None and all(isinstance(p, str) for p in listed) else []
    if not parts or any(not p or p in ("+", "-") for p in parts):
        raise BenchError(f"--families takes family names separated by commas, 'all', +NAME to add to the "
                         f"profile's ({', '.join(defaults)}) or -NAME to leave one of them out. Got {given!r} "
                         "instead.")
    removed = [p[1:] for p in parts if p.startswith("-")]
    if [p for p in parts if not p.startswith("-")] == ["all"]:  # each where it applies: not a request that every
        unknown = [n for n in removed if n not in registry.entries["families"]]  # model serve every family
        if unknown:
            raise SelectionError(unknown_name_message("metric family", unknown[0], registry.names("families")))
        return [f for f in registry.entries["families"] if f not in removed], []
    named = [p.lstrip("+") for p in parts if not p.startswith("-")]
    for name in [*named, *removed]:
        if name not in registry.entries["families"]:
            raise SelectionError(unknown_name_message("metric family", name, registry.names("families")))
    relative = any(p[0] in "+-" for p in parts)
    chosen = [f for f in ([*defaults, *named] if relative else named) if f not in removed]
    if not chosen:
        raise BenchError(f"--families leaves no family to compute. Got {given!r}; the profile's are "
                         f"{', '.join(defaults)}.")
    return list(dict.fromkeys(chosen)), list(dict.fromkeys(named))


def check_served(named: list[str], registry: Registry, models: list[str], kinds: set[str]) -> None:
    """A family the user named that no selected model or dataset can serve: one line, before any work."""
    for name in named:
        family: Any = registry.spec("families", name)
        if not kinds & set(family.inputs):
            raise BenchError(f"--families: the {name} family takes {' or '.join(family.inputs)} inputs and no "
                             f"selected dataset has them ({', '.join(sorted(kinds))}); drop it or add a dataset")
        if family.needs and not family.baseline and not any(
                set(family.needs) <= set(registry.spec("models", m).capabilities) for m in models):
            raise BenchError(f"--families: the {name} family needs models with {', '.join(family.needs)}, and "
                             f"none of {', '.join(models)} declares {'it' if len(family.needs) == 1 else 'them'}; "
                             f"drop it or add such a model (bench list models)")
