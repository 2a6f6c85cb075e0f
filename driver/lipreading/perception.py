"""Speech perception as a metric: what the frozen lip reader recognises in renders of motion.

`error_counts` scores one clip's crops against its phones (edit distance of the greedy CTC
reading, for phones and for visemes); `Perception` renders any motion of the corpus's rig with
the canonical mouth view the reader was validated on and scores it, so the ground truth, the
model, the energy baseline and the static face are judged by the same eyes. PER / VER = total
edits / total reference units over the clips (the usual corpus-level rate; above 1 is possible
when the reading inserts more than the truth holds).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from driver.lipreading.model import LipReader, load_lipreader
from driver.lipreading.mouth_view import FIELD_M, MouthRenderer
from driver.lipreading.visemes import (PHONE_TOKENS, VISEME_TOKENS, edit_distance, encode,
                                       greedy_decode, viseme_sequence)
from splat.assets_paths import DEFAULT_AVATAR
from splat.errors import UserInputError


def avatar_of(config: dict) -> Path:
    """The avatar a reader was trained on ("default" = the embedded head, wherever it is)."""
    named = config.get("avatar", "default")
    avatar = DEFAULT_AVATAR if named == "default" else Path(str(named))
    if not (avatar / "point_cloud.ply").is_file():
        raise UserInputError(f"the lip reader was trained on the avatar {avatar}, which is "
                             "not here")
    return avatar


def viseme_ids(phone_ids: np.ndarray) -> list[int]:
    """Viseme class ids of a phone id sequence (neighbours of one class merged)."""
    names = [PHONE_TOKENS[i - 1] for i in phone_ids]
    return encode(viseme_sequence(names), VISEME_TOKENS)


@torch.no_grad()
def read(reader: LipReader, frames: np.ndarray) -> tuple[list[int], list[int]]:
    """Greedy (phone ids, viseme ids) of one clip's (T, S, S) crops."""
    phone_lp, viseme_lp = reader(torch.from_numpy(np.ascontiguousarray(frames))[None])
    return (greedy_decode(phone_lp[0].argmax(-1).tolist()),
            greedy_decode(viseme_lp[0].argmax(-1).tolist()))


def error_counts(reader: LipReader, frames: np.ndarray, phone_ids: np.ndarray) -> np.ndarray:
    """[phone edits, phones, viseme edits, visemes] of the reader on one clip."""
    phones, visemes = read(reader, frames)
    ref_p, ref_v = [int(i) for i in phone_ids], viseme_ids(phone_ids)
    return np.array([edit_distance(phones, ref_p), len(ref_p),
                     edit_distance(visemes, ref_v), len(ref_v)], np.int64)


class Perception:
    """The frozen reader with the mouth camera it expects, for motion of the corpus's rig."""

    def __init__(self, folder: Path, rig_topology: str) -> None:
        self.reader, self.config = load_lipreader(folder)
        self.folder = Path(folder)
        avatar = avatar_of(self.config)
        self.renderer = MouthRenderer(avatar, self.config["size"],
                                      float(self.config.get("field_m", FIELD_M)))
        if self.renderer.rig_data.topology_digest() != rig_topology:
            raise UserInputError(f"the lip reader in {folder} reads the mouth of {avatar}, whose "
                                 "rig is not the evaluated data's (speech perception needs the "
                                 "corpus's rig)")

    @staticmethod
    def phone_ids(phones: list) -> np.ndarray:
        """Class ids of a clip's spoken phones (the reference reading)."""
        from driver.lipreading.crops import phone_targets

        return phone_targets(phones)[0]

    def score(self, motion: np.ndarray, phone_ids: np.ndarray) -> np.ndarray:
        """Error counts of the reader on canonical renders of `motion` (T, E+3)."""
        return error_counts(self.reader, self.renderer.render(motion), phone_ids)
