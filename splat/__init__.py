"""Geometry and pixels: FLAME-format rigs, Gaussian avatars, triangle binding, renderers."""
