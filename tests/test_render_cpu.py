"""The CPU renderer against closed forms: single Gaussians, occlusion, background/alpha, SH."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from splat.cameras import Camera, orbit_camera
from splat.errors import UserInputError
from splat.gaussians import WorldGaussians
from splat.render import available_backends, render, resolve_backend
from splat.render.cpu import render_cpu
from splat.render.cpu_project import SH_C0, SH_C1, SH_C2, SH_C3

IDENTITY_QUAT = [1.0, 0.0, 0.0, 0.0]


def gaussians(means, scales, opacities, rgb=None, quats=None, sh=None) -> WorldGaussians:
    """World Gaussians from plain lists; `rgb` is the wanted degree-0 colour."""
    n = len(means)
    if sh is None:
        sh = ((np.asarray(rgb, dtype=np.float32) - 0.5) / SH_C0)[:, None, :]
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    return WorldGaussians(
        means=t(means), quats=t(quats if quats is not None else [IDENTITY_QUAT] * n),
        scales=t(scales), opacities=t(opacities), sh=t(sh),
    )


def front_camera(size: int = 48, distance: float = 1.0, cx: float | None = None, cy: float | None = None) -> Camera:
    """Camera on +z looking at the origin; optional off-centre principal point."""
    cam = orbit_camera(0.0, 0.0, distance, width=size, height=size)
    if cx is not None:
        cam.K[0, 2], cam.K[1, 2] = cx, cy
    return cam


def expected_single(cam: Camera, cov2d: np.ndarray, mean2d: np.ndarray, opacity: float,
                    color: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """gsplat's classic forward for one Gaussian, in closed form over pixel centres."""
    cov = cov2d + 0.3 * np.eye(2)
    conic = np.linalg.inv(cov)
    ys, xs = np.mgrid[0:cam.height, 0:cam.width]
    d = np.stack([xs + 0.5 - mean2d[0], ys + 0.5 - mean2d[1]], axis=-1)
    sigma = 0.5 * np.einsum("hwi,ij,hwj->hw", d, conic, d)
    alpha = np.minimum(0.999, opacity * np.exp(-sigma))
    alpha[alpha < 1.0 / 255.0] = 0.0
    image = alpha[..., None] * color + (1.0 - alpha[..., None]) * background
    return image, alpha


def test_isotropic_gaussian_matches_closed_form():
    cam = front_camera(48, distance=1.2, cx=21.3, cy=26.8)
    s, opacity, color, bg = 0.012, 0.8, np.array([0.9, 0.4, 0.1]), np.array([0.1, 0.2, 0.3])
    image, alpha = render_cpu(gaussians([[0, 0, 0]], [[s, s, s]], [opacity], [color]), cam, bg)
    f = cam.K[0, 0]
    var = (f * s / 1.2) ** 2
    want_image, want_alpha = expected_single(cam, var * np.eye(2), cam.K[:2, 2], opacity, color, bg)
    np.testing.assert_allclose(alpha, want_alpha, atol=2e-5)
    np.testing.assert_allclose(image, want_image, atol=2e-5)
    assert alpha.max() > 0.7  # the test is about a visible Gaussian, not an empty image


def test_rotated_anisotropic_gaussian_matches_closed_form():
    cam = front_camera(64, distance=1.0)
    angle = 0.6
    quat = [np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)]  # about world z
    scales = np.array([0.03, 0.008, 0.001])
    color, bg = np.array([0.2, 0.7, 0.5]), np.zeros(3)
    image, alpha = render_cpu(gaussians([[0, 0, 0]], [scales], [0.95], [color], quats=[quat]), cam, bg)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    cov_world = rot @ np.diag(scales**2) @ rot.T
    view = cam.viewmat[:3, :3]
    f = cam.K[0, 0]
    cov2d = (f / 1.0) ** 2 * (view @ cov_world @ view.T)[:2, :2]  # on the optical axis J = f/z I
    want_image, want_alpha = expected_single(cam, cov2d, cam.K[:2, 2], 0.95, color, bg)
    np.testing.assert_allclose(alpha, want_alpha, atol=2e-5)
    np.testing.assert_allclose(image, want_image, atol=2e-5)


@pytest.mark.parametrize("near_first", [True, False])
def test_near_gaussian_occludes_far_one_whatever_the_input_order(near_first):
    cam = front_camera(32, distance=1.0)
    near = ([0.0, 0.0, 0.2], [0.05] * 3, 0.99, [1.0, 0.0, 0.0])
    far = ([0.0, 0.0, -0.2], [0.05] * 3, 0.99, [0.0, 0.0, 1.0])
    first, second = (near, far) if near_first else (far, near)
    scene = gaussians(*[list(v) for v in zip(first, second)])
    image, alpha = render_cpu(scene, cam, (1.0, 1.0, 1.0))
    centre = image[16, 16]
    assert centre[0] > 0.95 and centre[2] < 0.05, centre
    assert alpha[16, 16] > 0.999


def test_empty_scene_is_background_with_zero_alpha():
    cam = front_camera(40)
    empty = WorldGaussians(torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0, 3), torch.zeros(0),
                           torch.zeros(0, 1, 3))
    image, alpha = render_cpu(empty, cam, (0.25, 0.5, 0.75))
    assert image.shape == (40, 40, 3) and alpha.shape == (40, 40)
    assert image.dtype == np.float32 and alpha.dtype == np.float32
    np.testing.assert_array_equal(image, np.broadcast_to([0.25, 0.5, 0.75], image.shape).astype(np.float32))
    np.testing.assert_array_equal(alpha, 0.0)


def test_gaussians_behind_the_camera_or_off_screen_are_culled():
    cam = front_camera(32, distance=1.0)
    scene = gaussians([[0, 0, 2.0], [5.0, 0, 0]], [[0.05] * 3] * 2, [1.0, 1.0], [[1, 0, 0], [0, 1, 0]])
    image, alpha = render_cpu(scene, cam, (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(alpha, 0.0)
    np.testing.assert_array_equal(image, 1.0)


def test_opaque_cover_gives_full_alpha_and_hides_background():
    cam = front_camera(32, distance=1.0)
    scene = gaussians([[0, 0, 0]], [[20.0, 20.0, 0.001]], [1.0], [[0.2, 0.3, 0.4]])
    image, alpha = render_cpu(scene, cam, (1.0, 0.0, 1.0))
    # One Gaussian caps at alpha 0.999 (gsplat), so the background shows through by 0.1%.
    np.testing.assert_allclose(alpha, 0.999, atol=1e-4)
    np.testing.assert_allclose(image, np.broadcast_to([0.2, 0.3, 0.4], image.shape), atol=2e-3)


def test_sh_degree_one_colour_depends_on_view_direction():
    # The z-basis coefficient (index 2: +C1 * dir_z) of a Gaussian at the origin.
    dc, coef = 0.1, 0.4
    sh = np.zeros((1, 4, 3), dtype=np.float32)
    sh[0, 0] = dc
    sh[0, 2] = coef
    scene = gaussians([[0, 0, 0]], [[0.05] * 3], [0.999], sh=sh)
    colours = {}
    for name, yaw in (("front", 0.0), ("back", 180.0)):
        cam = orbit_camera(yaw, 0.0, 1.0, width=16, height=16)
        image, alpha = render_cpu(scene, cam, (0.0, 0.0, 0.0))
        colours[name] = image[8, 8] / alpha[8, 8]
    # From the front the direction mean - camera is -z; from the back it is +z.
    np.testing.assert_allclose(colours["front"], SH_C0 * dc - SH_C1 * coef + 0.5, atol=1e-4)
    np.testing.assert_allclose(colours["back"], SH_C0 * dc + SH_C1 * coef + 0.5, atol=1e-4)


@pytest.mark.parametrize("index,along_z", [(6, SH_C2[2] * 2.0), (12, SH_C3[3] * 2.0)])
def test_zonal_sh_terms_of_degree_two_and_three(index, along_z):
    # Zonal harmonics along the view axis: Y_2^0(z=±1) and Y_3^0(z=±1) (odd degree flips sign).
    sh = np.zeros((1, 16, 3), dtype=np.float32)
    sh[0, index] = 0.1
    scene = gaussians([[0, 0, 0]], [[0.05] * 3], [0.999], sh=sh)
    cam = orbit_camera(180.0, 0.0, 1.0, width=16, height=16)  # view direction +z
    image, alpha = render_cpu(scene, cam, (0.0, 0.0, 0.0))
    np.testing.assert_allclose(image[8, 8] / alpha[8, 8], 0.5 + 0.1 * along_z, atol=1e-4)


def test_backend_selection_on_this_machine():
    assert "cpu" in available_backends()
    if not torch.cuda.is_available():
        assert available_backends() == ["cpu"]
        assert resolve_backend("auto") == "cpu"
        with pytest.raises(UserInputError, match="CUDA"):
            resolve_backend("gsplat")
    with pytest.raises(UserInputError, match="unknown render backend"):
        resolve_backend("vulkan")


def test_render_interface_returns_host_arrays_in_range():
    cam = front_camera(32)
    scene = gaussians([[0, 0, 0]], [[0.05] * 3], [0.9], [[1.4, -0.3, 0.5]])  # colour out of range
    image, alpha = render(scene, cam, (1.0, 1.0, 1.0), backend="cpu")
    assert isinstance(image, np.ndarray) and image.shape == (32, 32, 3)
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0


def reference_render(scene: WorldGaussians, cam: Camera, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Untiled, per-pixel reference of the same rules in plain numpy (degree-0 colour only)."""
    means = scene.means.numpy().astype(np.float64)
    q = scene.quats.numpy().astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    rot = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], 1).reshape(-1, 3, 3)
    m = rot * scene.scales.numpy()[:, None, :]
    view, t = cam.viewmat[:3, :3], cam.viewmat[:3, 3]
    cam_pts = means @ view.T + t
    fx, fy, cx, cy = cam.K[0, 0], cam.K[1, 1], cam.K[0, 2], cam.K[1, 2]
    ys, xs = np.mgrid[0:cam.height, 0:cam.width] + 0.5
    trans = np.ones((cam.height, cam.width))
    color = np.zeros((cam.height, cam.width, 3))
    done = np.zeros((cam.height, cam.width), dtype=bool)
    rgb = np.maximum(scene.sh.numpy()[:, 0] * SH_C0 + 0.5, 0.0)
    for g in np.argsort(cam_pts[:, 2]):
        px, py, pz = cam_pts[g]
        jac = np.array([[fx / pz, 0, -fx * px / pz**2], [0, fy / pz, -fy * py / pz**2]])
        cov = jac @ view @ m[g] @ m[g].T @ view.T @ jac.T + 0.3 * np.eye(2)
        conic = np.linalg.inv(cov)
        d = np.stack([xs - (fx * px / pz + cx), ys - (fy * py / pz + cy)], -1)
        sigma = 0.5 * np.einsum("hwi,ij,hwj->hw", d, conic, d)
        a = np.minimum(0.999, scene.opacities.numpy()[g] * np.exp(-sigma))
        live = ~done & (a >= 1.0 / 255.0)
        t_next = trans * (1.0 - a)
        finishing = live & (t_next <= 1e-4)
        done |= finishing
        blend = live & ~finishing
        color[blend] += (a * trans)[blend][:, None] * rgb[g]
        trans[blend] = t_next[blend]
    return np.clip(color + trans[..., None] * background, 0.0, 1.0), 1.0 - trans


def test_tiled_renderer_matches_an_untiled_reference_on_a_crowded_scene():
    # Many overlapping, rotated Gaussians across tile borders exercise binning, the per-row
    # ellipse clipping, depth order and early termination at once.
    rng = np.random.default_rng(3)
    n = 300
    scene = gaussians(
        rng.uniform(-0.12, 0.12, (n, 3)), rng.uniform(0.002, 0.03, (n, 3)), rng.uniform(0.05, 1.0, n),
        rng.uniform(0.0, 1.0, (n, 3)), quats=rng.normal(size=(n, 4)),
    )
    cam = orbit_camera(25.0, 10.0, 0.8, width=72, height=56)
    bg = np.array([0.3, 0.6, 0.1])
    image, alpha = render_cpu(scene, cam, bg)
    want_image, want_alpha = reference_render(scene, cam, bg)
    np.testing.assert_allclose(alpha, want_alpha, atol=1e-4)
    np.testing.assert_allclose(image, want_image, atol=1e-4)


def test_depth_order_is_a_stable_sort_of_the_visible_depths():
    # The radix sort must equal a stable sort exactly (ties in index order, like gsplat), also
    # when many depths tie and when the keys differ only in their low or high bytes.
    from splat.render.cpu_bin import depth_order

    rng = np.random.default_rng(7)
    for depths in (rng.choice(rng.uniform(0.2, 9.0, 300), 5000), rng.uniform(1.0, 1.0001, 5000),
                   rng.uniform(0.01, 1000.0, 5000)):
        depths = depths.astype(np.float32)
        visible = np.flatnonzero(rng.uniform(size=depths.size) > 0.2)
        want = visible[np.argsort(depths[visible], kind="stable")]
        np.testing.assert_array_equal(depth_order(depths, visible), want)
    assert depth_order(np.ones(3, np.float32), np.zeros(0, np.int64)).size == 0
