"""Recording the live window: what is shown plus the audio that drove it, as one video file
(an MP4, or with a transparent background a ProRes 4444 `.mov` that keeps the alpha), and the
motion shown as a motion file beside it (`driver.motion_files`)."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np

from avatar_app.audio_in import AudioChunk, CaptureAudio, StreamResampler
from avatar_app.live_render import RenderedFrame
from avatar_app.mp4_writer import Mp4Writer
from avatar_app.record_fill import RecordingFill, SkippedFrame, fit_picture
from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.motion import MotionFrame
from splat.errors import UserInputError


class Recorder:
    """What is shown plus the microphone audio → MP4 (H.264 + AAC via Mp4Writer).

    Both streams are stamped on the capture clock relative to the start: a frame at the capture
    time of the audio it shows, audio at its capture time. The file is therefore lip-synced
    whatever the live display delay was. Audio is written only up to the newest video frame so
    the two streams end together, and the first frame is also stamped at 0 s (a slow first
    render under load would otherwise leave the file's first fraction of a second without a
    picture) so they start together. Called from the render worker (frames), the driver worker
    (audio) and the GUI thread or a signal handler (close), hence the lock.

    A write error (disk full) must not kill the render worker: the writer keeps what is
    complete, the recorder closes itself and `error` holds the message for the window.

    The sound is kept at `sample_rate` (the window passes the microphone's own rate, so a
    48 kHz capture is recorded at 48 kHz, not at the model's 16 kHz); audio of another rate
    (a 16 kHz file player, a chunk without device-rate samples) is resampled to it. With a
    `motion_suffix` (".npz", ".csv", ".json") the rig parameters of every recorded frame,
    on the same clock, are written beside the video at close (same name, that suffix);
    `extra_files` lists it, `motion_error` says why it could not be written. With `alpha`
    (the window's transparent background) the video is a `.mov` beside `path`'s name, ProRes
    4444 with the straight alpha of every frame and PCM sound (`video_out.AlphaVideoWriter`),
    which video editors import with its transparency.

    Motion frames the renderer had no time for arrive through `add_skipped` (what they would
    have been rendered with); their rig parameters go into the motion file at once, and after
    `close` an MP4's `fill` (a `record_fill.RecordingFill`, None when nothing was skipped) puts
    their pictures into the video.
    """

    def __init__(self, path: str, size: int, fps: int = MOTION_FPS, *,
                 sample_rate: int | None = None, motion_suffix: str = "",
                 expr_names: list[str] | tuple[str, ...] = (), rig_id: str = "",
                 alpha: bool = False) -> None:
        self.path = str(Path(path).with_suffix(".mov")) if alpha else path
        self.size = size
        self.alpha = alpha
        self.t_start = time.monotonic()
        if alpha:
            from avatar_app.video_out import audio_rate_for, open_video_writer

            self.sample_rate = audio_rate_for(self.path, int(sample_rate or SAMPLE_RATE))
            self._writer = open_video_writer(self.path, size, size, fps, self.sample_rate, alpha=True)
        else:
            self.sample_rate = int(sample_rate or SAMPLE_RATE)
            self._writer = Mp4Writer(path, size, size, fps, sample_rate=self.sample_rate)
        self._lock = threading.Lock()
        self._audio: deque[CaptureAudio] = deque()
        self._resampler: StreamResampler | None = None   # for audio of another rate
        self._resampler_rate = 0
        self._in_index = 0   # input samples the resampler has been given
        self.motion_path = str(Path(path).with_suffix(motion_suffix)) if motion_suffix else ""
        self._expr_names = list(expr_names)
        self._rig_id = rig_id
        self._motion: list[MotionFrame] = []
        self._skipped: list[SkippedFrame] = []
        self.fill: RecordingFill | None = None
        self.extra_files: list[str] = []
        self.motion_error = ""
        self._last_video = -1.0
        self.frames = 0
        self.closed = False
        self.error = ""
        self.padded_s = 0.0  # silence added at close where the audio had not caught up

    def add_audio(self, chunk: AudioChunk) -> None:
        """Audio the avatar heard: its device-rate samples when it has them, else the 16 kHz."""
        audio = chunk.capture or CaptureAudio(chunk.samples, chunk.t_capture, SAMPLE_RATE)
        with self._lock:
            if self.closed:
                return
            if audio.rate != self.sample_rate:
                audio = self._resample(audio)
            if len(audio.samples):
                self._audio.append(audio)

    def _resample(self, audio: CaptureAudio) -> CaptureAudio:
        """To the file's rate, seamlessly across chunks (StreamResampler keeps the history);
        the output is stamped by where its first sample sits in the input."""
        if self._resampler is None or self._resampler_rate != audio.rate:
            self._resampler = StreamResampler(audio.rate, self.sample_rate)
            self._resampler_rate, self._in_index = audio.rate, 0
        first = self._in_index
        self._in_index += len(audio.samples)
        out, first_in = self._resampler.process(audio.samples)
        return CaptureAudio(out, audio.t_capture + (first_in - first) / audio.rate, self.sample_rate)

    def add_frame(self, frame: RenderedFrame) -> None:
        t = (frame.t_capture if frame.t_capture is not None else frame.t_ready) - self.t_start
        with self._lock:
            if self.closed or t < 0:
                return
            if t < self._last_video - 1e-3 and not self.alpha and t > 0:
                # shown after a later-stamped picture (an idle frame stamped by its ready time
                # before speech arrived): it goes in with the fill
                self._skipped.append(SkippedFrame(t, {}, None, (0.0, 0.0, 0.0), None,
                                                  image=frame.rgba[..., :3].copy()))
                return
            if t <= self._last_video + 1e-3:
                return
            pixels = fit_picture(frame.rgba if self.alpha else frame.rgba[..., :3],  # straight
                                 self.size, self.size)                            # alpha kept
            image = (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            try:
                if self.frames == 0 and t > 0:   # a picture from 0 s, where the audio starts
                    self._writer.write_frame(image, 0.0)
                    self.frames += 1
                self._writer.write_frame(image, t)
                self._last_video = t
                self.frames += 1
                if self.motion_path and frame.params is not None:
                    if not self._motion:   # the picture at 0 s shows this motion too
                        self._motion.append(MotionFrame(t=0.0, **frame.params))
                    if t > 0:
                        self._motion.append(MotionFrame(t=t, **frame.params))
                self._flush_audio(self._last_video + 1.0 / MOTION_FPS)
            except UserInputError as exc:   # Mp4WriteError, or the alpha writer's failure
                self.error, self.closed = str(exc), True

    def add_skipped(self, t_capture: float, skipped: SkippedFrame,
                    params: dict[str, np.ndarray]) -> None:
        """A motion frame captured at `t_capture` that the renderer skipped, with the recorded
        motion `params` it would have shown."""
        t = t_capture - self.t_start
        with self._lock:
            if self.closed or t <= 0:
                return
            self._skipped.append(replace(skipped, t=t))
            if self.motion_path:
                self._motion.append(MotionFrame(t=t, **params))

    def _flush_audio(self, until: float) -> None:
        while self._audio:
            chunk = self._audio[0]
            t0 = chunk.t_capture - self.t_start
            if t0 >= until:
                return
            self._audio.popleft()
            samples, rate = chunk.samples, self.sample_rate
            if t0 < 0:  # captured before the start: keep only the part after it
                samples = samples[int(round(-t0 * rate)):]
                t0 = 0.0
            keep = int(round((until - t0) * rate))
            if keep <= 0:  # under half a sample before `until`: it belongs to the next frame
                self._audio.appendleft(CaptureAudio(samples, self.t_start + t0, rate))
                return
            if keep < len(samples):  # the rest waits for the next frame
                self._audio.appendleft(CaptureAudio(samples[keep:], self.t_start + t0 + keep / rate, rate))
                samples = samples[:keep]
            if len(samples):
                self._writer.write_audio(samples, t0)

    def close(self) -> str:
        """Finalise the file (idempotent); returns its path (check `error` for a failure).

        Audio reaches the recorder through the driver worker, which under load runs a little
        behind the render worker: the audio of the newest pictures may not have arrived yet.
        The missing tail is filled with silence (`padded_s` says how much) so sound and
        picture end together; their timelines are both the capture clock, so nothing shifts.
        """
        with self._lock:
            if not self.closed:
                self.closed = True
                try:
                    if self.frames:
                        end = self._last_video + 1.0 / MOTION_FPS
                        self._flush_audio(end)
                        self.padded_s = max(end - getattr(self._writer, "audio_end", end), 0.0)
                        self._writer.write_audio(np.zeros(0, np.float32), end)
                    self._writer.close()
                except UserInputError as exc:
                    self.error = str(exc)
                self._write_motion()
                self._prepare_fill()
        return self.path

    def _prepare_fill(self) -> None:
        """The fill of the skipped frames that fall inside the finished video (MP4 only: the
        alpha `.mov` keeps its live frames)."""
        end = self._last_video + 1.0 / MOTION_FPS
        skipped = [s for s in self._skipped if s.t < end]
        self._skipped = []
        if skipped and self.frames and not self.error and not self.alpha:
            self.fill = RecordingFill(self.path, skipped, MOTION_FPS)

    def _write_motion(self) -> None:
        """The recorded frames' rig parameters beside the video (a failure is a message)."""
        if not self.motion_path or not self._motion:
            return
        from driver.motion_files import write_motion

        try:
            self._motion.sort(key=lambda frame: frame.t)   # skipped frames arrive late
            write_motion(self.motion_path, self._motion, self._expr_names, fps=MOTION_FPS,
                         rig_id=self._rig_id)
            self.extra_files.append(self.motion_path)
        except UserInputError as exc:
            self.motion_error = f"motion not saved: {exc}"
        self._motion = []

    @property
    def seconds(self) -> float:
        """Length of the recorded picture so far."""
        return max(self._last_video, 0.0) + (1.0 / MOTION_FPS if self.frames else 0.0)
