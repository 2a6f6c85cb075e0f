"""What a recording really holds, decoded to the end (not the container's duration fields).

Recordings are fragmented MP4s (avatar_app/mp4_writer.py); for those FFmpeg's demuxer counts the
AAC encoder's 1024 priming samples into the audio stream's `duration` although playback (the
edit list) skips them, so tests measure the packets themselves, and decode every one, which
also proves the file is readable to its last byte.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av


@dataclass
class MediaEnds:
    video_frames: int
    video_end: float   # end of the last picture (its time + its duration), seconds
    audio_end: float   # end of the last audio sample, seconds
    video_codec: str
    audio_codec: str

    @property
    def drift(self) -> float:
        """Audio end minus video end: what a player shows as A/V drift at the end."""
        return self.audio_end - self.video_end


def decode_ends(path: str | Path) -> MediaEnds:
    """Demux and decode both streams completely (raises av.error.* on a damaged file).

    Ends come from the packets' own timestamps and durations: the last AAC packet carries its
    true, shorter length, while its decoded frame is padded to 1024 samples.
    """
    with av.open(str(path)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        names = v.codec_context.name, a.codec_context.name
        vi, ai = v.index, a.index
        frames, ends = 0, {vi: 0.0, ai: 0.0}
        for packet in container.demux(v, a):
            if packet.pts is not None and packet.duration:
                end = float((packet.pts + packet.duration) * packet.time_base)
                ends[packet.stream.index] = max(ends[packet.stream.index], end)
            for _frame in packet.decode():
                frames += packet.stream.index == vi
    return MediaEnds(frames, ends[vi], ends[ai], *names)
