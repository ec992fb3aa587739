"""Influence of training samples on a unit: per-head and per-module EK-FAC (see ``mda_curate.influence.engine``)."""
