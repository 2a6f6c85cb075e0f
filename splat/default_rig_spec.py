"""Names of the embedded default rig's expression blendshapes.

They are the contract between the procedural head (which builds one blendshape per name) and the
training corpus (which turns phones into weights on these names), so both import them from here.
Each name at 1.0 is the full natural extreme of that action; speech uses roughly 0..1.
"""

EXPRESSION_NAMES: tuple[str, ...] = (
    "lips_part", "lips_close", "lip_funnel", "lip_pucker", "lip_stretch_L", "lip_stretch_R",
    "smile_L", "smile_R", "frown_L", "frown_R", "lips_press", "upper_lip_raise",
    "lower_lip_depress", "lower_lip_tuck", "upper_lip_bite", "jaw_forward", "cheek_puff",
    "tongue_up", "tongue_out", "tongue_back", "blink_L", "blink_R", "squint_L", "squint_R",
    "brow_raise", "brow_lower", "nose_wrinkle",
)

# Radians of jaw_pose[0] (rotation about +x) for a wide-open mouth; speech stays below ~0.25.
JAW_OPEN_MAX_RAD = 0.35
