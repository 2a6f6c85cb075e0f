"""Idle motion: natural blink timing, deterministic under a seed, each layer switchable."""
import numpy as np

from driver.idle import IdleMotion, rms_energy
from driver.motion import MotionFrame

NAMES = ["lips_part", "blink_L", "blink_R", "smile_L"]


def run(idle: IdleMotion, seconds: float = 30.0, energy: float = 0.0) -> list[MotionFrame]:
    return [idle.apply(MotionFrame(t=k / 30, expr=np.zeros(4, np.float32)), energy)
            for k in range(int(seconds * 30))]


def test_blinks_have_natural_intervals_and_durations():
    idle = IdleMotion(seed=3, expr_names=NAMES, gaze_on=False, sway_on=False,
                      speech_follow_on=False)
    t = np.arange(0, 60, 0.002)
    closure = np.array([idle._blink_value(x) for x in t])
    closed = closure > 0.01
    starts = t[1:][closed[1:] & ~closed[:-1]]
    ends = t[1:][~closed[1:] & closed[:-1]]
    gaps = np.diff(starts)
    assert 9 <= len(starts) <= 31 and gaps.min() >= 1.9 and gaps.max() <= 6.1
    durations = ends[:len(starts)] - starts[:len(ends)]
    assert durations.min() > 0.08 and durations.max() < 0.16
    frames = run(idle)
    assert max(f.expr[1] for f in frames) > 0.5 and all(f.expr[1] == f.expr[2] for f in frames)
    assert all(f.expr[0] == 0 and f.expr[3] == 0 for f in frames)
    assert all(not f.neck_pose.any() and not f.eyes_pose.any() for f in frames)


def test_deterministic_under_seed_and_seeds_differ():
    a = run(IdleMotion(seed=1, expr_names=NAMES), 10, 0.5)
    b = run(IdleMotion(seed=1, expr_names=NAMES), 10, 0.5)
    c = run(IdleMotion(seed=2, expr_names=NAMES), 10, 0.5)
    assert all(np.array_equal(x.neck_pose, y.neck_pose) and np.array_equal(x.eyes_pose, y.eyes_pose)
               and np.array_equal(x.expr, y.expr) for x, y in zip(a, b))
    assert any(not np.array_equal(x.eyes_pose, y.eyes_pose) for x, y in zip(a, c))


def test_layers_are_small_and_switchable():
    frames = run(IdleMotion(seed=0, expr_names=NAMES, blink_on=False, speech_follow_on=False))
    eyes = np.array([f.eyes_pose for f in frames])
    neck = np.array([f.neck_pose for f in frames])
    assert 0.01 < np.abs(eyes).max() < 0.2 and np.array_equal(eyes[:, 0], eyes[:, 3])
    assert 0.005 < np.abs(neck).max() < 0.06
    off = run(IdleMotion(seed=0, expr_names=NAMES, blink=0, gaze=0, sway=0, speech_follow=0), 5, 1)
    assert all(not f.expr.any() and not f.neck_pose.any() and not f.eyes_pose.any() for f in off)
    no_blink_names = run(IdleMotion(seed=0, expr_names=["a", "b", "c", "d"]), 20)
    assert all(not f.expr.any() for f in no_blink_names)


def test_head_follows_speech_energy():
    quiet = run(IdleMotion(seed=0, blink_on=False, gaze_on=False, sway_on=False), 3, 0.0)
    loud = run(IdleMotion(seed=0, blink_on=False, gaze_on=False, sway_on=False), 3, 1.0)
    assert not any(f.neck_pose.any() for f in quiet)
    assert np.mean([f.neck_pose[0] for f in loud[30:]]) > 0.02
    audio = np.zeros(16000, np.float32)
    audio[8000:] = 0.3 * np.sin(np.arange(8000) * 0.2)
    assert rms_energy(audio, 0.2) == 0.0 and rms_energy(audio, 0.8) > 0.7
