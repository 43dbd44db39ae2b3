"""The optional capabilities a model may declare, as runtime-checkable Protocols, and the vocabularies
a spec is checked against when the registry loads it.

A model declares what it can do in its spec (``ModelSpec(capabilities=("generate",), likelihood=...)``);
the harness reads the declaration and never guesses from attribute names, so a misspelled method is an
error at load instead of a silently different protocol.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

KINDS = ("image", "vector")  # a dataset's ``kind``; a model's or noise's ``inputs`` name some of them
LIKELIHOODS = ("bernoulli", "gaussian")  # a decoder's declared likelihood (or None: not declared)


@runtime_checkable
class Generates(Protocol):
    """``generate(x)``: one new sample per input, used to augment the downstream CNN's training set (a VAE
    decodes z ~ q(z|x)). A model without it is augmented with reconstructions of corrupted copies."""

    def generate(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class HasPosterior(Protocol):
    """``posterior(x) -> (mu, logvar)`` of a diagonal-Gaussian q(z|x) and ``decode_logits(z)``: with a
    declared decoder likelihood, the likelihood metrics (negative ELBO, importance-weighted NLL) apply."""

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class SamplesPrior(Protocol):
    """``sample(n)``: ``n`` new images decoded from latents drawn from the model's prior (a VAE's
    z ~ N(0, I)), values in [0, 1]. The generative family scores them against real test images; a model
    without it (a deterministic autoencoder has no prior) reports those metrics as not applicable."""

    def sample(self, n: int) -> torch.Tensor: ...


CAPABILITIES: dict[str, type] = {"generate": Generates, "posterior": HasPosterior, "sample": SamplesPrior}


def _has(target: Any, protocol: type) -> bool:
    return issubclass(target, protocol) if inspect.isclass(target) else isinstance(target, protocol)


def missing_capabilities(spec: Any, target: Any) -> list[str]:
    """The capabilities ``spec`` declares that ``target`` (a built module or its class) does not have."""
    return [name for name in spec.capabilities if not _has(target, CAPABILITIES[name])]


def undeclared_capabilities(spec: Any, target: Any) -> list[str]:
    """The capabilities ``target`` has that ``spec`` does not declare (the harness will not use them)."""
    return [name for name, proto in CAPABILITIES.items() if name not in spec.capabilities and _has(target, proto)]


def vocabulary_problem(spec: Any) -> str | None:
    """What in ``spec`` is outside the vocabularies above, or None."""
    kind = getattr(spec, "kind", None)
    if kind is not None and kind not in KINDS:
        return f"kind {kind!r} is not one of {', '.join(map(repr, KINDS))}"
    inputs = getattr(spec, "inputs", None)
    if inputs is not None:
        if isinstance(inputs, str) or not inputs or set(inputs) - set(KINDS):
            return f"inputs {inputs!r} must be a non-empty tuple of {', '.join(map(repr, KINDS))}"
    capabilities = getattr(spec, "capabilities", None)
    if capabilities is not None:
        unknown = [c for c in (capabilities if not isinstance(capabilities, str) else [capabilities])
                   if c not in CAPABILITIES] or (["a string"] if isinstance(capabilities, str) else [])
        if unknown:
            return f"capabilities {capabilities!r} must be a tuple of {', '.join(map(repr, CAPABILITIES))}"
    if hasattr(spec, "likelihood") and spec.likelihood is not None and spec.likelihood not in LIKELIHOODS:
        return f"likelihood {spec.likelihood!r} is not one of {', '.join(map(repr, LIKELIHOODS))} or None"
    return None


def family_problem(spec: Any) -> str | None:
    """What is wrong with a metric family's declaration (:class:`registry.specs.FamilySpec`), or None."""
    from .metrics import Metric

    if not isinstance(spec.version, str) or not spec.version.strip():
        return f"version {spec.version!r} must be a non-empty string (raise it when what the family computes changes)"
    needs = spec.needs if not isinstance(spec.needs, str) else [spec.needs]
    unknown = [c for c in needs if c not in CAPABILITIES]
    if isinstance(spec.needs, str) or unknown:
        return f"needs {spec.needs!r} must be a tuple of {', '.join(map(repr, CAPABILITIES))}"
    if not spec.metrics or not all(isinstance(m, Metric) for m in spec.metrics):
        return "metrics must be a non-empty tuple of registry.metrics.Metric"
    names = [m.name for m in spec.metrics]
    if len(set(names)) != len(names):
        return f"metrics name {sorted(n for n in set(names) if names.count(n) > 1)[0]!r} twice"
    foreign = [m.name for m in spec.metrics if m.family != spec.name]
    if foreign:
        return f"metric {foreign[0]!r} says it is of family {spec.metrics[names.index(foreign[0])].family!r}"
    for field_name in ("headline", "compares", "matched"):
        value = getattr(spec, field_name)
        listed = [] if value is None else [value] if isinstance(value, str) else list(value)
        missing = [n for n in listed if n not in names]
        if missing:
            return f"{field_name} names {missing[0]!r}, which is not one of its metrics"
    if not callable(spec.score):
        return "score must be a callable score(context) -> list[MetricResult]"
    if not callable(spec.cost) and (not isinstance(spec.cost, (int, float)) or spec.cost < 0):
        return (f"cost {spec.cost!r} must be seconds >= 0, or a function of the cell giving them (or {{what: "
                "seconds}} for work cells share)")
    return None
