"""The project's own head: a procedural FLAME-layout rig and the Gaussian avatar bound to it.

FLAME and trained avatars cannot ship with the project, so `python main.py assets` builds the
embedded default from code: `generate.generate_default_avatar(seed, out_dir)` is the entry point.
One module per job: skin grid, eyes, mouth parts, ears, skinning, blendshapes, appearance,
Gaussian sampling.
"""
