"""Pickling and model files of the scikit-learn estimators: the network as spec plus arrays."""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from chainrule import optim
from chainrule.errors import ConfigError, FormatError
from chainrule.nn import layers as nn_layers
from chainrule.nn.module import Module
from chainrule.nn.registry import layer_from_spec, layer_to_spec

__all__ = ["Persistence"]

_MODEL_BLOB = "chainrule.sklearn/model"  # marks a pickled model_ (see __getstate__)
_META_KEY = "chainrule.sklearn"  # the metadata entry of a model file written by save()


def _model_blob(model: Module) -> dict[str, Any]:
    """A picklable description of ``model``: layer spec, weights, dropout generators."""
    return {
        "format": _MODEL_BLOB,
        "architecture": layer_to_spec(model),
        "state": model.state_dict(),
        "dropout_rngs": [m.rng for m in model.modules() if isinstance(m, nn_layers.Dropout)],
        "training": model.training,
    }


def _model_from_blob(blob: dict[str, Any]) -> Module:
    """Rebuild the model ``_model_blob`` described."""
    model = layer_from_spec(blob["architecture"])
    dtypes = {a.dtype for a in blob["state"].values() if a.dtype.kind == "f"}
    if dtypes:
        model.astype(dtypes.pop())
    model.load_state_dict(blob["state"])
    dropouts = [m for m in model.modules() if isinstance(m, nn_layers.Dropout)]
    for layer, rng in zip(dropouts, blob["dropout_rngs"]):
        layer.rng = rng
    return model.train(blob["training"])


def _optimizer_from_state(model: Module, state: dict[str, Any]) -> optim.Optimizer:
    """Rebuild an optimizer over ``model`` from its ``state_dict()``."""
    cls = getattr(optim, state["type"])
    hp = {k: tuple(v) if isinstance(v, list) else v for k, v in state["hyperparameters"].items()}
    hp["lr"] = 1.0  # a placeholder: the saved lr (maybe 0 at the end of a schedule) is loaded
    optimizer = cls(model.named_parameters(), **hp)
    optimizer.load_state_dict(state)
    return optimizer


def _array_to_json(values: np.ndarray) -> dict[str, Any]:
    return {
        "dtype": values.dtype.str if values.dtype.kind != "O" else "object",
        "values": values.tolist(),
    }


def _array_from_json(doc: Any, where: str) -> np.ndarray:
    """The array ``_array_to_json`` wrote, refusing dtypes other than bools, numbers, text."""
    if not isinstance(doc, dict) or not isinstance(doc.get("values"), list):
        raise FormatError(f"{where}: expected {{'dtype': ..., 'values': [...]}}, got {doc!r:.80}")
    try:
        dtype = np.dtype(object if doc.get("dtype") == "object" else str(doc.get("dtype")))
    except TypeError:
        raise FormatError(f"{where}: unknown dtype {doc.get('dtype')!r:.40}") from None
    if dtype.kind not in "biufUO":
        raise FormatError(f"{where}: unsupported dtype {dtype}")
    return np.array(doc["values"], dtype=dtype)


class Persistence(BaseEstimator):
    """Pickling (``__getstate__``/``__setstate__``, the network as spec plus arrays) and
    ``save``/``load`` through chainrule model files, for ``BaseNeuralNet``."""

    def _fitted_extras(self) -> dict[str, Any]:
        """Subclass fitted attributes for a model file (JSON-safe)."""
        return {}

    def _restore_extras(self, meta: dict[str, Any], where: str) -> None:
        """Set the subclass fitted attributes from a model file."""

    # -- pickling (scikit-learn requires it; the network is stored as spec + arrays) -------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        if isinstance(state.get("model_"), Module):
            state["model_"] = _model_blob(state["model_"])
        if isinstance(state.get("_optimizer"), optim.Optimizer):
            state["_optimizer"] = state["_optimizer"].state_dict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        blob = state.get("model_")
        if isinstance(blob, dict) and blob.get("format") == _MODEL_BLOB:
            state["model_"] = _model_from_blob(blob)
            if isinstance(state.get("_optimizer"), dict):
                state["_optimizer"] = _optimizer_from_state(state["model_"], state["_optimizer"])
        super().__setstate__(state)

    # -- model files ---------------------------------------------------------------------
    def _params_for_file(self) -> dict[str, Any]:
        """``get_params()`` made JSON-safe (schedules as their config, generators as None)."""
        params = self.get_params(deep=False)
        schedule = params["lr_schedule"]
        if isinstance(schedule, optim.Schedule):
            params["lr_schedule"] = {"schedule": schedule.config()}
        elif callable(schedule):
            raise ConfigError(
                f"{type(self).__name__}.save: lr_schedule={schedule!r} cannot be written to a "
                "model file; use a name ('step', 'cosine') or a chainrule.optim schedule"
            )
        if not isinstance(params["random_state"], (numbers.Integral, type(None))):
            params["random_state"] = None
        return params

    def save(self, path: str | Path) -> Path:
        """Write the fitted estimator as a chainrule model file pair (no pickle).

        The network goes to ``NAME.safetensors`` + ``NAME.json`` through ``chainrule.save``;
        the hyperparameters and fitted attributes (``classes_``, ``loss_curve_``, ...) are
        stored in the JSON. The optimizer state is not saved: ``partial_fit`` after ``load``
        starts a fresh optimizer. Returns the JSON path.
        """
        check_is_fitted(self)
        from chainrule.io import save as save_model

        names = getattr(self, "feature_names_in_", None)
        meta = {
            "estimator": type(self).__name__,
            "n_features_in_": self.n_features_in_,
            "feature_names_in_": None if names is None else [str(n) for n in names],
            "n_outputs_": self.n_outputs_,
            "out_activation_": self.out_activation_,
            "n_iter_": self.n_iter_,
            "loss_curve_": list(self.loss_curve_),
            "best_loss_": self.best_loss_,
            "validation_scores_": self.validation_scores_,
            "best_validation_score_": self.best_validation_score_,
            **self._fitted_extras(),
        }
        classes = getattr(self, "classes_", None)
        class_names = None
        if classes is not None and getattr(self, "_target_type", "") != "multilabel-indicator":
            class_names = [str(c) for c in classes]
        return save_model(
            self.model_,
            path,
            class_names=class_names,
            hyperparameters=self._params_for_file(),
            metadata={_META_KEY: meta},
        )

    @classmethod
    def load(cls, path: str | Path) -> Any:
        """Load an estimator written by ``save``; ready to predict (and to ``partial_fit``)."""
        from chainrule.io import load as load_model

        loaded = load_model(path)
        where = str(loaded.path)
        meta = (loaded.metadata or {}).get(_META_KEY)
        if not isinstance(meta, dict) or meta.get("estimator") != cls.__name__:
            raise FormatError(
                f"{where}: not a {cls.__name__} file (written by {cls.__name__}.save); hint: "
                "open plain chainrule models with chainrule.load(path)"
            )
        params = dict(loaded.hyperparameters or {})
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        schedule = params.get("lr_schedule")
        if isinstance(schedule, dict):
            params["lr_schedule"] = optim.schedule_from_config(schedule.get("schedule", {}))
        try:
            est = cls(**params)
        except TypeError as err:
            raise FormatError(
                f"{where}: hyperparameters do not fit {cls.__name__}: {err}"
            ) from None
        try:
            est._restore_fitted(loaded, meta, where)
        except (KeyError, TypeError, ValueError) as err:
            raise FormatError(f"{where}: corrupt {cls.__name__} metadata ({err!r})") from None
        return est

    def _restore_fitted(self, loaded: Any, meta: dict[str, Any], where: str) -> None:
        """Set the fitted attributes from a loaded model file and its metadata."""
        self.model_ = loaded.model.eval()
        self._dtype = np.dtype(loaded.dtype)
        self.n_features_in_ = int(meta["n_features_in_"])
        if meta.get("feature_names_in_") is not None:
            self.feature_names_in_ = np.array(meta["feature_names_in_"], dtype=object)
        self.n_outputs_ = int(meta["n_outputs_"])
        self.out_activation_ = str(meta["out_activation_"])
        self.n_iter_ = int(meta["n_iter_"])
        self.loss_curve_ = [float(v) for v in meta["loss_curve_"]]
        self.best_loss_ = float(meta["best_loss_"])
        scores = meta.get("validation_scores_")
        self.validation_scores_ = None if scores is None else [float(v) for v in scores]
        best = meta.get("best_validation_score_")
        self.best_validation_score_ = None if best is None else float(best)
        self._no_improvement_count = 0
        self._restore_extras(meta, where)
