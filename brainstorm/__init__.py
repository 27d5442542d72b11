"""brainstorm: store and serve the results of a brain-computer-interface pipeline."""

__version__ = "0.1.0"
