"""`bench_render` produces a row per backend and size with a stage breakdown (tiny, fast run)."""
from __future__ import annotations

import pytest

from splat.bench import bench_render, format_render_table, synthetic_avatar
from splat.errors import UserInputError
from tests.test_pipeline import tiny_rig, write_tiny_avatar_folder


def test_bench_rows_and_table(tmp_path):
    write_tiny_avatar_folder(tmp_path)
    rows = bench_render(["cpu"], sizes=(32, 48), avatar=tmp_path, n_frames=2, gaussians=500)
    assert [(r.backend, r.size, r.gaussians) for r in rows] == [("cpu", 32, 500), ("cpu", 48, 500)]
    for r in rows:
        assert r.fps > 0 and r.p95_ms >= r.median_ms > 0
        assert set(r.stages_ms) == {"rig+bind", "project", "sort+bin", "composite"}
    table = format_render_table(rows)
    assert "fps" in table and "composite" in table and "500" in table


def test_synthetic_avatar_binds_to_the_rig():
    rig = tiny_rig()
    avatar = synthetic_avatar(rig, 300)
    assert len(avatar) == 300 and avatar.sh.shape == (300, 16, 3)
    assert avatar.binding.min() >= 0 and avatar.binding.max() < rig.num_faces


def test_missing_default_avatar_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr("splat.assets_paths.DEFAULT_AVATAR", tmp_path / "nowhere")
    with pytest.raises(UserInputError, match="default avatar missing"):
        bench_render(["cpu"], sizes=(32,), n_frames=1)
