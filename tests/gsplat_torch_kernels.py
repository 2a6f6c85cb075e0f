"""Torch ports of the compiled gsplat 1.5.3 forward kernels, so its real Python code runs on a CPU.

gsplat's `rasterization()` reaches its CUDA extension only through `gsplat.cuda._backend._C`
(looked up lazily on every call). `installed()` puts a stand-in `_backend` module whose `_C`
holds these ports into `sys.modules`, so everything above the kernels (argument checks,
packing, SH dispatch, tile encoding, background handling) is gsplat's own code, unmodified: a
wrong call into gsplat fails here exactly as it would on a GPU. The stand-in also keeps gsplat
from trying to JIT-compile its kernels on a machine that happens to have nvcc.

Each port follows the kernel's arithmetic (ProjectionEWA3DGSFused.cu / Packed.cu,
IntersectTile.cu, RasterizeToPixels3DGSFwd.cu, SphericalHarmonicsCUDA.cu) and is written
independently of the project's numba CPU renderer, which the tests compare it with.
"""
from __future__ import annotations

import enum
import math
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

import torch

ALPHA_THRESHOLD = 1.0 / 255.0
ALPHA_CAP = 0.999
T_STOP = 1e-4
EXTENT_CAP = 3.33


class CameraModelType(enum.Enum):
    PINHOLE = 0
    ORTHO = 1
    FISHEYE = 2
    FTHETA = 3


def _quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of w,x,y,z quaternions, normalised first as the kernel does."""
    q = quats / quats.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, -1).reshape(*quats.shape[:-1], 3, 3)


def _covariances(covars, quats, scales) -> torch.Tensor:
    if covars is not None:  # upper triangle xx, xy, xz, yy, yz, zz
        a, b, c, d, e, f = covars.unbind(-1)
        return torch.stack([a, b, c, b, d, e, c, e, f], -1).reshape(*covars.shape[:-1], 3, 3)
    m = _quat_to_rotmat(quats) * scales[..., None, :]
    return m @ m.transpose(-1, -2)


def _project(means, covars, quats, scales, opacities, viewmats, Ks, width, height, eps2d,
             near_plane, far_plane, radius_clip, calc_compensations, camera_model):
    """Per camera and Gaussian: radii, means2d, depths, conics, compensations (unpacked layout)."""
    if camera_model is not CameraModelType.PINHOLE:
        raise NotImplementedError(f"port covers the pinhole camera only, not {camera_model}")
    R = viewmats[..., :3, :3]                                   # [..., C, 3, 3]
    t = viewmats[..., :3, 3]                                    # [..., C, 3]
    mean_c = torch.einsum("...cij,...nj->...cni", R, means) + t[..., :, None, :]   # [..., C, N, 3]
    cov = _covariances(covars, quats, scales)                   # [..., N, 3, 3]
    cov_c = R[..., :, None, :, :] @ cov[..., None, :, :, :] @ R.transpose(-1, -2)[..., :, None, :, :]
    fx, fy = Ks[..., 0, 0, None], Ks[..., 1, 1, None]           # [..., C, 1]
    cx, cy = Ks[..., 0, 2, None], Ks[..., 1, 2, None]
    x, y, z = mean_c.unbind(-1)
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    lim_x_pos, lim_x_neg = (width - cx) / fx + 0.3 * tan_fovx, cx / fx + 0.3 * tan_fovx
    lim_y_pos, lim_y_neg = (height - cy) / fy + 0.3 * tan_fovy, cy / fy + 0.3 * tan_fovy
    rz = 1.0 / z
    tx = z * torch.minimum(lim_x_pos, torch.maximum(-lim_x_neg, x * rz))
    ty = z * torch.minimum(lim_y_pos, torch.maximum(-lim_y_neg, y * rz))
    zero = torch.zeros_like(z)
    J = torch.stack([fx * rz, zero, -fx * tx * rz * rz, zero, fy * rz, -fy * ty * rz * rz], -1)
    J = J.reshape(*z.shape, 2, 3)
    cov2d = J @ cov_c @ J.transpose(-1, -2)
    det_orig = cov2d[..., 0, 0] * cov2d[..., 1, 1] - cov2d[..., 0, 1] * cov2d[..., 1, 0]
    cov2d = cov2d + eps2d * torch.eye(2, dtype=cov2d.dtype, device=cov2d.device)
    det = cov2d[..., 0, 0] * cov2d[..., 1, 1] - cov2d[..., 0, 1] * cov2d[..., 1, 0]
    compensation = torch.sqrt(torch.clamp(det_orig / det, min=0.0))
    means2d = torch.stack([fx * x * rz + cx, fy * y * rz + cy], -1)
    conics = torch.stack([cov2d[..., 1, 1] / det, -cov2d[..., 0, 1] / det, cov2d[..., 0, 0] / det], -1)

    valid = (z >= near_plane) & (z <= far_plane) & (det > 0)
    extend = torch.full_like(z, EXTENT_CAP)
    if opacities is not None:
        opacity = opacities[..., None, :].expand_as(z)
        if calc_compensations:
            opacity = opacity * compensation
        valid &= opacity >= ALPHA_THRESHOLD
        extend = torch.minimum(extend, torch.sqrt(2.0 * torch.log(opacity.clamp_min(ALPHA_THRESHOLD)
                                                                  / ALPHA_THRESHOLD)))
    radius_x = torch.ceil(extend * torch.sqrt(cov2d[..., 0, 0].clamp_min(0)))
    radius_y = torch.ceil(extend * torch.sqrt(cov2d[..., 1, 1].clamp_min(0)))
    valid &= ~((radius_x <= radius_clip) & (radius_y <= radius_clip))
    u, v = means2d.unbind(-1)
    valid &= ~((u + radius_x <= 0) | (u - radius_x >= width) | (v + radius_y <= 0) | (v - radius_y >= height))
    radii = torch.stack([radius_x, radius_y], -1).nan_to_num(0.0).to(torch.int32) * valid[..., None]
    keep = valid[..., None]
    return (radii, torch.where(keep, means2d, 0.0), torch.where(valid, z, 0.0),
            torch.where(keep, conics, 0.0), compensation if calc_compensations else None)


def projection_ewa_3dgs_fused_fwd(means, covars, quats, scales, opacities, viewmats, Ks, width, height,
                                  eps2d, near_plane, far_plane, radius_clip, calc_compensations,
                                  camera_model):
    radii, means2d, depths, conics, comp = _project(
        means, covars, quats, scales, opacities, viewmats, Ks, width, height, eps2d, near_plane,
        far_plane, radius_clip, calc_compensations, camera_model)
    if comp is None:
        comp = torch.zeros_like(depths)
    return radii, means2d, depths, conics, comp


def projection_ewa_3dgs_packed_fwd(means, covars, quats, scales, opacities, viewmats, *rest):
    """The packed layout: only visible (batch, camera, Gaussian) triples, in row-major order."""
    radii, means2d, depths, conics, comp = projection_ewa_3dgs_fused_fwd(
        means, covars, quats, scales, opacities, viewmats, *rest)
    n_batch = math.prod(means.shape[:-2])
    C, N = viewmats.shape[-3], means.shape[-2]
    visible = (radii > 0).all(-1).reshape(n_batch, C, N)
    batch_ids, camera_ids, gaussian_ids = (i.to(torch.int64) for i in visible.nonzero(as_tuple=True))
    flat = visible.reshape(-1)
    counts = visible.reshape(n_batch * C, N).sum(-1)
    indptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)]).to(torch.int32)
    pick = lambda a: a.reshape(n_batch * C * N, *a.shape[means.dim():])[flat]  # noqa: E731
    return (indptr, batch_ids, camera_ids, gaussian_ids, pick(radii), pick(means2d), pick(depths),
            pick(conics), pick(comp))


def _sh_basis_fast(degree: int, dirs: torch.Tensor) -> list[torch.Tensor]:
    """SH basis values in the kernel's recurrence form (not the textbook constants)."""
    basis = [torch.full_like(dirs[..., 0], 0.2820947917738781)]
    if degree < 1:
        return basis
    d = dirs / dirs.norm(dim=-1, keepdim=True)
    x, y, z = d.unbind(-1)
    basis += [-0.48860251190292 * y, 0.48860251190292 * z, -0.48860251190292 * x]
    if degree < 2:
        return basis
    z2 = z * z
    f_tmp0b = -1.092548430592079 * z
    f_c1, f_s1 = x * x - y * y, 2 * x * y
    p6 = 0.9461746957575601 * z2 - 0.3153915652525201
    basis += [0.5462742152960395 * f_s1, f_tmp0b * y, p6, f_tmp0b * x, 0.5462742152960395 * f_c1]
    if degree < 3:
        return basis
    f_tmp0c = -2.285228997322329 * z2 + 0.4570457994644658
    f_tmp1b = 1.445305721320277 * z
    f_c2, f_s2 = x * f_c1 - y * f_s1, x * f_s1 + y * f_c1
    basis += [
        -0.5900435899266435 * f_s2, f_tmp1b * f_s1, f_tmp0c * y,
        z * (1.865881662950577 * z2 - 1.119528997770346), f_tmp0c * x, f_tmp1b * f_c1,
        -0.5900435899266435 * f_c2,
    ]
    if degree > 3:
        raise NotImplementedError("port covers SH degrees 0..3")
    return basis


def spherical_harmonics_fwd(degrees_to_use, dirs, coeffs, masks):
    basis = torch.stack(_sh_basis_fast(degrees_to_use, dirs), -1)          # [..., K']
    colors = (basis[..., None] * coeffs[..., : basis.shape[-1], :]).sum(-2)
    if masks is not None:
        colors = colors * masks[..., None]
    return colors


def intersect_tile(means2d, radii, depths, image_ids, gaussian_ids, I, tile_size, tile_width, tile_height,
                   sort, segmented):
    """Keys image | tile | depth bits per touched tile, stably sorted like CUB's radix sort."""
    packed = means2d.dim() == 2
    means2d, radii, depths = means2d.reshape(-1, 2), radii.reshape(-1, 2), depths.reshape(-1)
    n_per_image = None if packed else means2d.shape[0] // I
    rx, ry = radii[:, 0].float(), radii[:, 1].float()
    live = (rx > 0) & (ry > 0)
    tx, ty = means2d[:, 0] / tile_size, means2d[:, 1] / tile_size
    trx, try_ = rx / tile_size, ry / tile_size
    x0 = torch.floor(tx - trx).clamp(0, tile_width).to(torch.int64)
    y0 = torch.floor(ty - try_).clamp(0, tile_height).to(torch.int64)
    x1 = torch.ceil(tx + trx).clamp(0, tile_width).to(torch.int64)
    y1 = torch.ceil(ty + try_).clamp(0, tile_height).to(torch.int64)
    tiles_per_gauss = torch.where(live, (y1 - y0) * (x1 - x0), 0).to(torch.int32)
    tile_bits = int(math.floor(math.log2(tile_width * tile_height))) + 1
    depth_bits = depths.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    if packed:
        image_of = image_ids.to(torch.int64)
    else:
        image_of = torch.arange(means2d.shape[0]) // n_per_image
    # The kernel's write order: Gaussian by Gaussian, each one's tiles row by row.
    gauss = live.nonzero().flatten()
    counts = tiles_per_gauss[gauss].to(torch.int64)
    owner = torch.repeat_interleave(gauss, counts)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    k = torch.arange(int(counts.sum())) - first
    span = (x1 - x0)[owner]
    tile_ids = (y0[owner] + k // span) * tile_width + x0[owner] + k % span
    isect_ids = (image_of[owner] << (32 + tile_bits)) | (tile_ids << 32) | depth_bits[owner]
    flatten_ids = owner.to(torch.int32)
    if sort:
        isect_ids, order = torch.sort(isect_ids, stable=True)
        flatten_ids = flatten_ids[order]
    return tiles_per_gauss.reshape(radii.shape[:-1]), isect_ids, flatten_ids


def intersect_offset(isect_ids, n_images, tile_width, tile_height):
    """First intersection index of every (image, tile), n_isects past the last one."""
    n_tiles = tile_width * tile_height
    tile_bits = int(math.floor(math.log2(n_tiles))) + 1
    hi = isect_ids >> 32
    ids = (hi >> tile_bits) * n_tiles + (hi & ((1 << tile_bits) - 1))
    wanted = torch.arange(n_images * n_tiles, dtype=torch.int64)
    offsets = torch.searchsorted(ids.contiguous(), wanted, right=False).to(torch.int32)
    return offsets.reshape(n_images, tile_height, tile_width)


def rasterize_to_pixels_3dgs_fwd(means2d, conics, colors, opacities, backgrounds, masks, width, height,
                                 tile_size, isect_offsets, flatten_ids):
    """Front-to-back compositing per pixel over its tile's depth-ordered list, as the kernel does."""
    image_shape = isect_offsets.shape[:-2]
    n_images = math.prod(image_shape)
    channels = colors.shape[-1]
    tile_h, tile_w = isect_offsets.shape[-2:]
    flat_means = means2d.reshape(-1, 2)
    flat_conics = conics.reshape(-1, 3)
    flat_colors = colors.reshape(-1, channels)
    flat_opac = opacities.reshape(-1)
    offsets = isect_offsets.reshape(-1).to(torch.int64)
    n_isects = flatten_ids.shape[0]
    out = torch.zeros(n_images, tile_h * tile_size, tile_w * tile_size, channels)
    trans_out = torch.ones(n_images, tile_h * tile_size, tile_w * tile_size)
    last_ids = torch.zeros(n_images, height, width, dtype=torch.int32)
    ly, lx = torch.meshgrid(torch.arange(tile_size), torch.arange(tile_size), indexing="ij")
    for image in range(n_images):
        bg = None if backgrounds is None else backgrounds.reshape(n_images, channels)[image]
        for tile in range(tile_h * tile_w):
            k = image * tile_h * tile_w + tile
            start = int(offsets[k])
            end = n_isects if k + 1 == offsets.shape[0] else int(offsets[k + 1])
            ty, tx = divmod(tile, tile_w)
            if masks is not None and not bool(masks.reshape(n_images, -1)[image, tile]):
                if bg is not None:
                    out[image, ty * tile_size:(ty + 1) * tile_size, tx * tile_size:(tx + 1) * tile_size] = bg
                continue
            if end <= start:
                if bg is not None:
                    out[image, ty * tile_size:(ty + 1) * tile_size, tx * tile_size:(tx + 1) * tile_size] = bg
                continue
            g = flatten_ids[start:end].to(torch.int64)
            px = (tx * tile_size + lx).reshape(-1, 1).float() + 0.5          # [P, 1]
            py = (ty * tile_size + ly).reshape(-1, 1).float() + 0.5
            dx = flat_means[g, 0][None] - px                                 # [P, G]
            dy = flat_means[g, 1][None] - py
            ca, cb, cc = flat_conics[g].unbind(-1)
            sigma = 0.5 * (ca * dx * dx + cc * dy * dy) + cb * dx * dy
            alpha = torch.clamp(flat_opac[g][None] * torch.exp(-sigma), max=ALPHA_CAP)
            alpha = torch.where((sigma < 0) | (alpha < ALPHA_THRESHOLD), 0.0, alpha)
            # Transmittance before each Gaussian, then the kernel's stop: the first Gaussian that
            # would take T to <= 1e-4 ends the pixel and neither it nor any later one counts.
            survive = 1.0 - alpha
            t_before = torch.cumprod(torch.cat([torch.ones_like(survive[:, :1]), survive[:, :-1]], 1), 1)
            stops = (alpha > 0) & (t_before * survive <= T_STOP)
            counted = (torch.cumsum(stops.int(), 1) == 0) & (alpha > 0)
            weight = torch.where(counted, alpha * t_before, 0.0)
            pixel = weight @ flat_colors[g]
            trans = torch.where(counted, survive, 1.0).prod(1)
            if bg is not None:
                pixel = pixel + trans[:, None] * bg
            rows = slice(ty * tile_size, (ty + 1) * tile_size)
            cols = slice(tx * tile_size, (tx + 1) * tile_size)
            out[image, rows, cols] = pixel.reshape(tile_size, tile_size, channels)
            trans_out[image, rows, cols] = trans.reshape(tile_size, tile_size)
            # last_ids (read by the backward kernel): the last intersection a pixel counted.
            seen = counted.any(1)
            last = start + (counted.shape[1] - 1 - counted.flip(1).int().argmax(1))
            tile_last = torch.where(seen, last, 0).to(torch.int32).reshape(tile_size, tile_size)
            h, w = min(tile_size, height - ty * tile_size), min(tile_size, width - tx * tile_size)
            last_ids[image, rows, cols] = tile_last[:h, :w]
    colors_out = out[:, :height, :width].reshape(*image_shape, height, width, channels)
    alphas_out = (1.0 - trans_out[:, :height, :width]).reshape(*image_shape, height, width, 1)
    return colors_out.contiguous(), alphas_out.contiguous(), last_ids.reshape(*image_shape, height, width)


def stand_in_extension() -> types.SimpleNamespace:
    """An object shaped like gsplat's compiled `_C` for the forward 3DGS path.

    pybind11's `export_values()` also puts each enum member at module level, and gsplat's
    `_make_lazy_cuda_obj("CameraModelType.PINHOLE")` relies on that (it looks every dotted part
    up on the module itself), so the members sit at both places here too.
    """
    return types.SimpleNamespace(
        CameraModelType=CameraModelType,
        **{member.name: member for member in CameraModelType},
        projection_ewa_3dgs_fused_fwd=projection_ewa_3dgs_fused_fwd,
        projection_ewa_3dgs_packed_fwd=projection_ewa_3dgs_packed_fwd,
        spherical_harmonics_fwd=spherical_harmonics_fwd,
        intersect_tile=intersect_tile,
        intersect_offset=intersect_offset,
        rasterize_to_pixels_3dgs_fwd=rasterize_to_pixels_3dgs_fwd,
    )


@contextmanager
def installed() -> Iterator[types.SimpleNamespace]:
    """gsplat with its compiled extension replaced by the torch ports, for the block's duration."""
    name = "gsplat.cuda._backend"
    previous = sys.modules.get(name)
    module = types.ModuleType(name)
    module._C = stand_in_extension()
    sys.modules[name] = module
    try:
        yield module._C
    finally:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
