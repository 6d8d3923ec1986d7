"""catdog-desktop: train an image classifier on your own folders of pictures, and use it."""

__version__ = "0.1.0"
