"""Documents in, tokens out: corpus files, the project's tokenized format and Pythia's .bin/.idx stream."""
