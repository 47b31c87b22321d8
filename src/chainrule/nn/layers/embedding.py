"""Embedding: a trainable table of vectors looked up by integer token ids."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.ops.embedding import EmbeddingLookup
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ConfigError
from chainrule.nn import init as nn_init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.registry import register_layer
from chainrule.validation import check_positive_int

__all__ = ["Embedding"]


@register_layer
class Embedding(Module):
    """A lookup table ``weight (num_embeddings, embedding_dim)``: ids ``(...)`` -> ``(..., D)``.

    Parameters
    ----------
    num_embeddings, embedding_dim : int
        Rows (vocabulary size) and the length of each vector.
    padding_idx : int, optional
        A row (the ``<pad>`` token) initialized to zeros that receives no gradient, so it stays
        zero. Negative values count from the end, as in PyTorch.
    rng : numpy.random.Generator or int, optional
        Randomness of the initialization (N(0, 1), as in PyTorch).

    Notes
    -----
    Repeated ids accumulate their gradients into the same row.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.nn import Embedding
    >>> emb = Embedding(10, 3, padding_idx=0, rng=0)
    >>> emb(np.array([[1, 2, 0]])).shape
    (1, 3, 3)
    >>> emb.weight.data[0].tolist()
    [0.0, 0.0, 0.0]
    """

    @staticmethod
    def spec_size(config: dict[str, Any]) -> int:
        """Scalars the layer a config describes would allocate (checked before building it)."""
        v, d = config.get("num_embeddings"), config.get("embedding_dim")
        return v * d if isinstance(v, int) and isinstance(d, int) else 0

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        rng: nn_init.RNG = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "Embedding: num_embeddings")
        self.embedding_dim = check_positive_int(embedding_dim, "Embedding: embedding_dim")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
                raise ConfigError(f"Embedding: padding_idx must be an int, got {padding_idx!r}")
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ConfigError(
                    f"Embedding: padding_idx {padding_idx} is outside the table of "
                    f"{self.num_embeddings} rows"
                )
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(np.zeros((self.num_embeddings, self.embedding_dim), np.float32))
        self.reset_parameters(rng)

    def reset_parameters(self, rng: nn_init.RNG = None) -> None:
        """Draw the table from N(0, 1); the padding row is zeros."""
        gen = nn_init.as_generator(rng)
        self.weight.data = gen.standard_normal(self.weight.shape).astype(self.weight.dtype)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0
        self.weight.grad = None

    def forward(self, ids: Any) -> Tensor:
        data = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
        return EmbeddingLookup.apply(self.weight, indices=data, padding_idx=self.padding_idx)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) that rebuild this layer."""
        return {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "padding_idx": self.padding_idx,
        }

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
