"""The built-in metric families, registered through the entry-point group ``bench`` (``families =
"bench.families"`` in pyproject.toml) as a third party's would be. Each module holds one
:class:`registry.FamilySpec` and its ``score(context)``."""

from registry import FamilySpec, hookimpl

from .augmentation import AUGMENTATION
from .downstream import DOWNSTREAM
from .generative import GENERATIVE
from .latent import LATENT
from .likelihood import LIKELIHOOD
from .reconstruction import RECONSTRUCTION

BUILTIN: tuple[FamilySpec, ...] = (RECONSTRUCTION, LATENT, DOWNSTREAM, LIKELIHOOD, AUGMENTATION, GENERATIVE)


@hookimpl
def bench_families() -> list[FamilySpec]:
    return list(BUILTIN)
