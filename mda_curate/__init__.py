"""mda-curate: Mechanistic Data Attribution for pretraining-data curation."""

__version__ = "0.1.0"
