"""Pythia-style training substrate, readable top to bottom:

* ``config``   model presets (``cpu-tiny``, ``pythia-14m/70m/160m``) and the training recipe ``TrainConfig``;
* ``data``     the fixed data order: every global sample index -> (source, window) -> tokens, document ids;
* ``schedule`` interventions as data (mask, duplicate, insert) and the batches they yield;
* ``trainer``  the resumable training loop and its checkpoints.

Submodules are imported explicitly (``from mda_curate.training.trainer import Trainer``) so that the
light ones do not pull in torch.
"""
