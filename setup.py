"""The one thing pyproject.toml cannot say: find the code packages *and* rename a folder.

The embedded assets stay in assets/ (the repo's layout) and install as the package
`talking_splat_assets`, where splat.assets_paths finds them with importlib.resources. Finding the
code packages here (rather than listing them) keeps a new subpackage from being left out.
"""
from setuptools import find_packages, setup

# The data folders are listed too (setuptools treats every folder as an importable package).
ASSET_PACKAGES = ["talking_splat_assets", "talking_splat_assets.default_avatar",
                  "talking_splat_assets.default_model", "talking_splat_assets.human_avatar",
                  "talking_splat_assets.lipreader"]

setup(
    packages=find_packages(include=["splat*", "driver*", "avatar_app*"]) + ASSET_PACKAGES,
    package_dir={"talking_splat_assets": "assets"},
)
