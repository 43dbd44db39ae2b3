"""The plugin kit's context for metric families: the part of the harness's :class:`bench.context.Context`
that needs no harness, on tiny fixed data (random images, a small VAE trained for a few steps).

The reference classifier is a small linear one trained on the kit's images. What only a grid provides (the
augmentation samples, the reference CNN, the dataset's feature network) raises :class:`NotInKit`: a family
that uses it is checked in a grid instead (``bench run --families NAME --datasets digits``), and the kit
says so instead of failing.
"""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import torch

from .outcome import NotApplicable
from .specs import ModelSpec

SHAPE, TRAIN, TEST, CLASSES = (1, 8, 8), 64, 48, 3


class NotInKit(Exception):
    """The family asked for work only a grid provides."""


def _images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes of 8x8 images: a bright row, column or diagonal, with noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % CLASSES
    x = torch.rand(n, *SHAPE, generator=g) * 0.3
    for i, label in enumerate(y.tolist()):
        k = i % 8
        if label == 0:
            x[i, 0, k, :] = 1.0
        elif label == 1:
            x[i, 0, :, k] = 1.0
        else:
            x[i, 0].fill_diagonal_(1.0)
    return x.clamp(0, 1), y


def _trained_vae() -> torch.nn.Module:
    from .models import MLPVAE

    torch.manual_seed(0)
    model = MLPVAE(SHAPE, latent_dim=2, hidden=16)
    x, _ = _images(TRAIN, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):
        loss = model.loss(x, x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


class KitClassifier:
    """The kit's reference classifier: a linear layer trained on the kit's clean training images (what
    ``context.reference_classifier()`` gives a family in a grid: ``predict(x)``, ``steps``, ``source``,
    ``precision``, ``validation``)."""

    steps, source, precision, validation = 200, "trained", "fp32", None

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        from torch.nn import functional as F

        torch.manual_seed(0)
        self.network = torch.nn.Linear(x[0].numel(), CLASSES)
        optimizer = torch.optim.Adam(self.network.parameters(), lr=0.05)
        for _ in range(self.steps):
            loss = F.cross_entropy(self.network(x.flatten(1)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x.flatten(1)).argmax(1)


class KitContext:
    """A cell of a small VAE on tiny images corrupted by Gaussian noise (seed 0, severity 1)."""

    device = torch.device("cpu")
    is_baseline = False
    images = True

    def __init__(self) -> None:
        from .models import MLPVAE

        self.profile = SimpleNamespace(name="kit", train_size=TRAIN, eval_size=TEST, iw_samples=8, iw_size=16,
                                       tsne_points=TEST, augment_k=1, cnn_budget="epochs", precision="fp32")
        self.cell = SimpleNamespace(dataset="kit", model="kit_vae", noise="gaussian", severity=1, seed=0,
                                    model_label="kit_vae", noise_label="gaussian", noise_overrides={},
                                    noise_params={"sigma": 0.2}, train_noise=False, profile=self.profile)
        self.outputs: dict[str, dict[str, Any]] = {}
        self.model = _trained_vae()
        self.model_spec = ModelSpec("kit_vae", MLPVAE, "the kit's VAE", capabilities=("generate", "posterior", "sample"),
                                    likelihood="bernoulli")
        self.train_x, self.train_y = _images(TRAIN, 1)
        self.test_x, test_y = _images(TEST, 2)
        self.eval_x, self.eval_y, self.classes = self.test_x, test_y, ("row", "column", "diagonal")
        g = torch.Generator().manual_seed(3)
        self.noisy_test = (self.test_x + 0.2 * torch.randn(self.test_x.shape, generator=g)).clamp(0, 1)
        self.split = SimpleNamespace(train_x=self.train_x, train_y=self.train_y, test_x=self.test_x,
                                     eval_x=self.eval_x, eval_y=self.eval_y, eval_idx=torch.arange(TEST),
                                     classes=self.classes, val_x=None, val_y=None)
        self._memo: dict[str, Any] = {}
        self._family = ""

    def for_family(self, name: str) -> KitContext:
        self.outputs.setdefault(name, {})
        self._family = name
        return self

    @property
    def noisy_eval(self) -> torch.Tensor:
        return self.noisy_test

    def severities(self) -> list[int]:
        return [1]

    def reference_classifier(self) -> KitClassifier:
        if not hasattr(self, "_classifier"):
            self._classifier = KitClassifier(self.train_x, self.train_y)
        return self._classifier

    def shared(self, key: Any, compute: Callable[[], Any]) -> Any:
        return self.memo(("shared", key), compute)

    def corrupted_eval_sets(self) -> dict[int, torch.Tensor]:
        return {1: self.noisy_test}

    @torch.no_grad()
    def codes(self) -> tuple[Any, Any]:
        return (self.model.encode(self.train_x).double().numpy(), self.model.encode(self.eval_x).double().numpy())

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        name = repr(key)
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]

    def seed(self, *names: Any) -> int:
        import hashlib

        return int.from_bytes(hashlib.blake2b(repr((0, *names)).encode(), digest_size=4).digest(), "little")

    @contextmanager
    def seeded(self, *names: Any) -> Iterator[None]:
        with torch.random.fork_rng():
            torch.manual_seed(self.seed(*names))
            yield

    def add_figure(self, kind: str, made: bytes | NotApplicable | None, path: str | None = None) -> None:
        self.outputs[self._family][f"figure:{kind}"] = made

    def add_artifact(self, name: str, data: bytes) -> None:
        self.outputs[self._family][name] = data

    def cnn_used(self, role: str, steps: int, *, source: str | None = None, validation: float | None = None) -> None:
        self.outputs[self._family][f"cnn:{role}"] = (int(steps), source, validation)

    def baseline_validation(self) -> None:
        """None: the kit's subset is its whole training set, so there are no validation images."""
        return None

    def validation_accuracy(self, cnn: Any) -> None:
        """None: the kit's subset is its whole training set, so there are no validation images."""
        return None

    def _grid_only(self, what: str) -> Any:
        raise NotInKit(f"the family uses {what}, which only a grid provides: check it with "
                       f"'bench run --families {self._family} --datasets digits'")

    def augmentation(self) -> Any:
        return self._grid_only("the augmentation samples")

    def baseline_cnn(self) -> Any:
        return self._grid_only("the reference CNN")

    def baseline_accuracy(self) -> Any:
        return self._grid_only("the reference CNN")

    def domain_features(self) -> Any:
        return self._grid_only("the dataset's feature network")

    def real_features(self) -> Any:
        return self._grid_only("the dataset's feature network")

    def noisy_features(self) -> Any:
        return self._grid_only("the dataset's feature network")
