"""Catalyst classifier: cheap features of repetitive structure, a calibrated scikit-learn model, skops artifacts.

``load_classifier(path=None).score(texts)`` returns P(catalyst) per text; ``train.train_classifier``
fits one from 0/1 labels (influence top vs bottom, or a proxy). Importing this package imports numpy
only (no torch, no scikit-learn until a model is trained or loaded).
"""

from mda_curate.classifier.model import DEFAULT_CLASSIFIER, PROXY_CLASSIFIER, CatalystClassifier, load_classifier

__all__ = ["DEFAULT_CLASSIFIER", "PROXY_CLASSIFIER", "CatalystClassifier", "load_classifier"]
