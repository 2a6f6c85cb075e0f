"""Differentiable Gaussian splatting in torch, for small images (the lip-reading teacher's crops).

The maths are gsplat's (REFERENCE.md §3), as in the CPU renderer: EWA projection with the 0.3 px²
low-pass and the 1.3 x field-of-view clamp of the Jacobian, an opacity-aware footprint,
alpha = min(0.999, o·exp(−σ)) with σ < 0 or alpha < 1/255 skipped, front-to-back compositing in
depth order, C = Σ w·c + T·bg. Instead of tiles, each Gaussian is splatted into a square window
around its centre sized by its footprint (half-widths `WINDOWS`), so memory grows with Gaussians
x footprint rather than Gaussians x pixels; the (Gaussian, pixel) pairs are sorted by pixel with
depth order kept, and each pair's transmittance is the exclusive running sum of log(1 − α) within
its pixel (in float64, so long pixel lists stay exact). Differences from the kernels, both
negligible in a picture: a pixel does not stop at T ≤ 1e-4 (later pairs count with weights below
1e-4), and footprints wider than the largest window are clipped. Colour is the SH DC term only
(view-independent; the embedded avatar is degree 0). Batched over frames seen by one camera.
"""
from __future__ import annotations

import torch

from splat.binding import quaternion_to_matrix
from splat.cameras import Camera
from splat.gaussians import WorldGaussians
from splat.render.cpu_project import SH_C0

LOW_PASS = 0.3
ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.999
EXTENT_CAP = 3.33
WINDOWS = (2, 4, 8, 16)       # footprint half-widths (pixels) of the splat windows


def project(g: WorldGaussians, camera: Camera) -> dict[str, torch.Tensor]:
    """Screen-space splats of (B, N) Gaussians: means2d (B,N,2), conics (B,N,3) (a, b, c of
    the inverse covariance [[a, b], [b, c]]), depth (B,N), radius (B,N) pixels (0 = culled)."""
    dt = g.means.dtype
    view = torch.as_tensor(camera.viewmat, dtype=dt, device=g.means.device)
    K = camera.K
    R, t = view[:3, :3], view[:3, 3]
    mean_c = g.means @ R.T + t
    M = quaternion_to_matrix(g.quats) * g.scales[..., None, :]
    cov_c = R @ (M @ M.transpose(-1, -2)) @ R.T
    fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
    x, y, z = mean_c.unbind(-1)
    valid = z > camera.near
    z = torch.where(valid, z, torch.ones_like(z))
    lim_x = 1.3 * 0.5 * camera.width / fx
    lim_y = 1.3 * 0.5 * camera.height / fy
    tx = z * (x / z).clamp(-lim_x, lim_x)
    ty = z * (y / z).clamp(-lim_y, lim_y)
    zero = torch.zeros_like(z)
    J = torch.stack([fx / z, zero, -fx * tx / z ** 2, zero, fy / z, -fy * ty / z ** 2], -1)
    J = J.unflatten(-1, (2, 3))
    cov2d = J @ cov_c @ J.transpose(-1, -2)
    a = cov2d[..., 0, 0] + LOW_PASS
    b = cov2d[..., 0, 1]
    c = cov2d[..., 1, 1] + LOW_PASS
    det = a * c - b * b
    valid = valid & (det > 0)
    det = torch.where(valid, det, torch.ones_like(det))
    conics = torch.stack([c / det, -b / det, a / det], -1)
    means2d = torch.stack([fx * x / z + cx, fy * y / z + cy], -1)
    opacity = g.opacities.expand_as(z)
    extend = torch.sqrt(2.0 * torch.log(opacity.clamp_min(ALPHA_MIN) / ALPHA_MIN)).clamp(
        max=EXTENT_CAP)
    radius = torch.ceil(extend * torch.sqrt(torch.maximum(a, c))).detach()
    valid = valid & (opacity >= ALPHA_MIN)
    return {"means2d": means2d, "conics": conics, "depth": mean_c[..., 2],
            "radius": torch.where(valid, radius, torch.zeros_like(radius))}


def colours(g: WorldGaussians) -> torch.Tensor:
    """(.., N, 3) colour of the SH DC term: max(C0·sh0 + 0.5, 0), as gsplat."""
    return (SH_C0 * g.sh[..., 0, :] + 0.5).clamp_min(0.0)


def _pairs(g: WorldGaussians, camera: Camera) -> dict[str, torch.Tensor] | None:
    """Every (Gaussian, pixel) pair with alpha >= 1/255, sorted by pixel then depth: pixel
    (flat index over B*H*W), gaussian (flat over B*N), alpha, weight (alpha x transmittance
    before it) and log(1 - alpha) in float64; None when nothing lands in the image."""
    s = project(g, camera)
    B, N = s["depth"].shape
    H, W = camera.height, camera.width
    opacity = g.opacities.expand(B, N)
    rank = torch.argsort(torch.argsort(s["depth"].detach(), dim=1), dim=1)   # depth order
    keys, alphas, owners = [], [], []
    lower = 0.0
    for half in WINDOWS:
        last = half == WINDOWS[-1]
        pick = (s["radius"] > lower) & ((s["radius"] <= half) | last)
        lower = float(half)
        bi, gi = pick.nonzero(as_tuple=True)
        if len(bi) == 0:
            continue
        m2, con = s["means2d"][bi, gi], s["conics"][bi, gi]
        offsets = torch.arange(-half, half + 1, device=m2.device)
        base = torch.floor(m2.detach()).long()
        px = base[:, 0, None, None] + offsets[None, None, :]             # (n, 1, w)
        py = base[:, 1, None, None] + offsets[None, :, None]             # (n, w, 1)
        dx = px + 0.5 - m2[:, 0, None, None]
        dy = py + 0.5 - m2[:, 1, None, None]
        sigma = (0.5 * (con[:, 0, None, None] * dx * dx + con[:, 2, None, None] * dy * dy)
                 + con[:, 1, None, None] * dx * dy)
        alpha = (opacity[bi, gi][:, None, None] * torch.exp(-sigma)).clamp(max=ALPHA_MAX)
        inside = (px >= 0) & (px < W) & (py >= 0) & (py < H)
        keep = inside & (sigma >= 0) & (alpha >= ALPHA_MIN)
        n_idx, yy, xx = keep.nonzero(as_tuple=True)
        pixel = (bi[n_idx] * H + py[n_idx, yy, 0]) * W + px[n_idx, 0, xx]
        keys.append(pixel * N + rank[bi[n_idx], gi[n_idx]])
        alphas.append(alpha[n_idx, yy, xx])
        owners.append(bi[n_idx] * N + gi[n_idx])
    if not keys:
        return None
    key = torch.cat(keys)
    order = torch.argsort(key)
    key, alpha, owner = key[order], torch.cat(alphas)[order], torch.cat(owners)[order]
    pixel = key // N
    log_keep = torch.log1p(-alpha).double()
    before = torch.cumsum(log_keep, 0) - log_keep                       # exclusive, global
    first = torch.searchsorted(pixel, pixel)                            # each pixel's first pair
    weight = alpha * torch.exp(before - before[first]).to(alpha.dtype)
    return {"pixel": pixel, "gaussian": owner, "alpha": alpha, "weight": weight,
            "log_keep": log_keep}


def rasterize(g: WorldGaussians, camera: Camera, background: float = 1.0
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(image (B,H,W,3), alpha (B,H,W)) of batched Gaussians (means (B,N,3) ...), differentiable
    in every Gaussian attribute."""
    B, N = g.means.shape[:2]
    H, W = camera.height, camera.width
    dt, dev = g.means.dtype, g.means.device
    pairs = _pairs(g, camera)
    if pairs is None:
        return (torch.full((B, H, W, 3), float(background), dtype=dt, device=dev),
                torch.zeros(B, H, W, dtype=dt, device=dev))
    rgb = colours(g).expand(B, N, 3).reshape(B * N, 3)
    pixel, weight = pairs["pixel"], pairs["weight"]
    P = B * H * W
    image = torch.zeros(P, 3, dtype=dt, device=dev).index_add(
        0, pixel, weight[:, None] * rgb[pairs["gaussian"]])
    log_t = torch.zeros(P, dtype=torch.float64, device=dev).index_add(0, pixel,
                                                                       pairs["log_keep"])
    final_t = torch.exp(log_t).to(dt)
    image = image + final_t[:, None] * float(background)
    return image.reshape(B, H, W, 3), (1.0 - final_t).reshape(B, H, W)


@torch.no_grad()
def contributions(g: WorldGaussians, camera: Camera) -> torch.Tensor:
    """(B, N) each Gaussian's summed compositing weight over the image: ~0 for one hidden
    behind others or outside the view (what a renderer restricted to the visible may drop)."""
    B, N = g.means.shape[:2]
    pairs = _pairs(g, camera)
    out = torch.zeros(B * N, dtype=g.means.dtype, device=g.means.device)
    if pairs is not None:
        out.index_add_(0, pairs["gaussian"], pairs["weight"])
    return out.reshape(B, N)
