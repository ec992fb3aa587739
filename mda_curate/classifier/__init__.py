"""Catalyst classifier: cheap features of repetitive structure, a calibrated scikit-learn model, skops artifacts.

``load_classifier(path=None).score(texts)`` returns P(catalyst) per text; ``train.train_classifier``
fits one from 0/1 labels (influence top vs bottom, or a proxy). Importing this package imports nothing heavy:
numpy comes with the model (first use of these names), scikit-learn when a model is trained or loaded.
"""

import importlib

__all__ = ["DEFAULT_CLASSIFIER", "PROXY_CLASSIFIER", "CatalystClassifier", "load_classifier"]


def __getattr__(name: str):
    """Import the model on first use, so that the settings (``classifier.settings``) come without numpy."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("mda_curate.classifier.model"), name)
