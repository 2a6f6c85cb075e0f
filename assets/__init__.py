"""The embedded default assets as package data (installed as `talking_splat_assets`).

Only a marker: importlib.resources needs a package to find data files in. Every path into this
folder comes from splat.assets_paths; `python main.py assets` regenerates its contents.
"""
