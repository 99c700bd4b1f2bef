"""The NeRF model: fit a radiance field to the views of a scene by volume rendering random rays.

``NeRF`` is a ``Model`` whose dataset is the views of one scene (``zoo_nerf.scenes``): a batch is a dict of
``b`` images with their cameras, and each step renders ``rays_per_step`` random pixels of those views and
compares them with the pictures (the paper's photometric loss, for the coarse and the fine pass). It is a
``ViewRenderer``: any camera renders a picture and a depth map, chunk by chunk in bounded memory.

Rays are sampled inside the model, from the batch's tensors: a scene's millions of rays never become
dataset items, and the data loader only stacks a few views.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, NamedTuple

import torch
from einops import rearrange
from torch import Tensor
from torch.nn import functional as F

from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import BeforeUpdate, ImplicitField, Model, ScalarVolume
from zoo.metrics import psnr, ssim
from zoo.recipes import Interval, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Probability
from zoo_nerf.cameras import Camera, ViewRenderer, pixel_rays
from zoo_nerf.occupancy import OccupancyGrid
from zoo_nerf.rendering import Composited, composite, interval_points, merge_edges, sample_pdf, uniform_edges
from zoo_nerf.scenes import BACKGROUNDS

__all__ = ["NeRF"]

DENSITY_ACTIVATIONS = {
    "relu": F.relu,  # the paper's
    "softplus": F.softplus,
    "exp": lambda raw: torch.exp(raw.clamp(max=15.0)),  # Instant-NGP's (clamped: no overflow, no huge gradients)
}


class Views(NamedTuple):
    """A batch of views: ``images`` ``(b, c, h, w)``, ``alphas`` ``(b, 1, h, w)`` or None, ``poses``
    ``(b, 4, 4)``, ``intrinsics`` ``(b, 3, 3)``."""

    images: Tensor
    alphas: Tensor | None
    poses: Tensor
    intrinsics: Tensor


class NeRF(Model, ViewRenderer, BeforeUpdate, ScalarVolume):
    """Neural radiance fields (Mildenhall et al. 2020) with optional empty-space skipping (Instant-NGP).

    - ``field``: the coarse field, ``fine_field``: the fine one (hierarchical sampling, §5.2). Without a
      ``fine_field`` the coarse field also renders the fine pass; with ``num_importance=0`` there is no
      fine pass, and a ``fine_field`` is refused (it would never be trained). Any ``ImplicitField`` with
      ``in_dim`` 6 (position, direction) or 3 (position only) and ``out_dim`` = colour channels + 1 serves;
      a recipe that states neither gets 6 and 4 (RGB and density), and the fine field gets the coarse one's
      (``part_sizes``). Raw outputs become colour by a sigmoid and density by ``density_activation``
      (``relu`` as in the paper, ``softplus`` or ``exp``).
    - Rays run from ``near`` to ``far`` (distances from the camera): ``num_samples`` stratified samples,
      then ``num_importance`` more from the coarse weights. Fields see positions divided by
      ``scene_radius``, so the scene box ``[-scene_radius, scene_radius]^3`` is ``[-1, 1]^3`` where the
      zoo's encodings expect coordinates; outside the box the density is 0.
    - ``background`` (white or black) is what rays that pass ``far`` see: the colour the data's
      transparent pixels were composited onto. With ``random_background`` every training ray sees a random
      colour instead, and its target pixel is recomposited onto it by the data's ``alpha`` (Instant-NGP's
      trick): a fixed background can be imitated by fog of its colour, a random one cannot, so empty space
      is learnt empty (and the occupancy grid can skip it).
    - ``occupancy_resolution > 0`` keeps an occupancy grid of that many cells per side, refreshed every
      ``occupancy_update_every`` updates from the fields' densities (``BeforeUpdate``): samples in empty
      cells are skipped. ``occupancy_threshold`` is the opacity an occupied cell's density gives a coarse
      interval (converted to a density with the coarse interval length); ``occupancy_decay`` how much of
      a cell's remembered density survives an update (Instant-NGP's 0.95 suits its tens of thousands of
      steps; a run of hundreds needs a faster one to see space empty out in time). The updates of the
      first ``occupancy_warmup`` optimizer updates look at every cell, later ones at
      ``occupancy_fraction`` of them (Instant-NGP: every cell for its first 256 steps, then a sample of
      cells drawn uniformly and among the occupied ones).
    - ``chunk_size`` rays are rendered at a time when rendering a view (memory, not results).
    - ``surface_density``: the level of the density (the larger of the fields') that ``zoo export --mesh``
      meshes as the scene's surface, over the scene box (a ``ScalarVolume``); ``--level`` picks another.

    Loss: ``coarse_mse`` (+ ``fine_mse``) between rendered and true pixel colours. Metrics on held-out
    views: ``psnr`` and ``ssim`` of the fine renders (mean over views) and ``mse``.
    """

    data_kinds = ("views",)
    part_sizes: ClassVar = {
        "field": {"in_dim": lambda: 6, "out_dim": lambda: 4},
        "fine_field": {"in_dim": lambda field: field.in_dim, "out_dim": lambda field: field.out_dim},
    }

    def __init__(
        self,
        field: ImplicitField,
        fine_field: ImplicitField | None = None,
        *,
        num_samples: PositiveInt = 64,
        num_importance: NonNegativeInt = 128,
        rays_per_step: PositiveInt = 1024,
        near: NonNegativeFloat = 2.0,
        far: PositiveFloat = 6.0,
        scene_radius: PositiveFloat = 1.5,
        background: str = "white",
        random_background: bool = False,
        density_activation: str = "relu",
        occupancy_resolution: NonNegativeInt = 0,
        occupancy_update_every: PositiveInt = 16,
        occupancy_threshold: Annotated[float, Interval(gt=0, lt=1)] = 0.01,
        occupancy_decay: Probability = 0.95,
        occupancy_warmup: NonNegativeInt = 256,
        occupancy_fraction: Annotated[float, Interval(gt=0, le=1)] = 1.0,
        chunk_size: PositiveInt = 4096,
        surface_density: PositiveFloat = 10.0,
    ):
        super().__init__()
        for name, f in (("field", field), ("fine_field", fine_field)):
            if f is None:
                continue
            if f.in_dim not in (3, 6) or f.out_dim < 2 or f.latent_dim:
                raise IncompatibleComponentsError(
                    f"NeRF's {name} takes 3 (position) or 6 (position, view direction) coordinates and outputs "
                    f"colour channels + a density, unconditioned: set {name}.in_dim=6, {name}.out_dim=4, "
                    f"latent_dim=0; got in_dim={f.in_dim}, out_dim={f.out_dim}, latent_dim={f.latent_dim}"
                )
        if fine_field is not None and num_importance == 0:
            raise IncompatibleComponentsError(
                "fine_field is never rendered nor trained with num_importance=0 (no fine pass), yet its density "
                "would feed the occupancy grid: set num_importance > 0 (e.g. num_importance=64) for a fine pass, or "
                "drop it (fine_field=null)"
            )
        if fine_field is not None and fine_field.out_dim != field.out_dim:
            raise IncompatibleComponentsError(f"field and fine_field must output as many channels: "
                                              f"{field.out_dim} and {fine_field.out_dim}")
        if background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {background!r}")
        if density_activation not in DENSITY_ACTIVATIONS:
            raise ValueError(f"density_activation must be one of {', '.join(DENSITY_ACTIVATIONS)}, "
                             f"got {density_activation!r}")
        if not 0 <= near < far:
            raise ValueError(f"rays run from near to far with 0 <= near < far, got near={near}, far={far}")
        self.field, self.fine_field = field, fine_field
        self.num_samples, self.num_importance, self.rays_per_step = num_samples, num_importance, rays_per_step
        self.near, self.far, self.scene_radius = near, far, scene_radius
        self.chunk_size, self.random_background = chunk_size, random_background
        self.activation = DENSITY_ACTIVATIONS[density_activation]
        self.register_buffer("background", torch.tensor(BACKGROUNDS[background]), persistent=False)
        self.occupancy = None
        if occupancy_resolution:
            # the density whose coarse interval (length (far - near) / num_samples) has the threshold's opacity
            interval = (far - near) / num_samples
            threshold = -torch.log1p(torch.tensor(-occupancy_threshold)).item() / interval
            self.occupancy = OccupancyGrid(occupancy_resolution, threshold=threshold, decay=occupancy_decay)
        self.occupancy_update_every = occupancy_update_every
        self.occupancy_warmup, self.occupancy_fraction = occupancy_warmup, occupancy_fraction
        self.surface_level = surface_density

    # -- the fields along rays ----------------------------------------------------------------------------

    def _shade(self, field: ImplicitField, origins: Tensor, directions: Tensor, edges: Tensor, points: Tensor,
               background: Tensor) -> Composited:
        """Evaluate ``field`` at depths ``points`` ``(r, n)`` of rays ``(r, 3)`` and composite them onto
        ``background`` (``(c,)`` or one colour per ray ``(r, c)``)."""
        positions = (origins[:, None, :] + points[..., None] * directions[:, None, :]) / self.scene_radius
        if self.occupancy is not None:
            keep = self.occupancy.occupied(positions)  # (r, n)
        else:
            keep = (positions.abs() <= 1).all(-1)
        coords = positions
        if field.in_dim == 6:
            coords = torch.cat([positions, directions[:, None, :].expand_as(positions)], dim=-1)
        raw = coords.new_zeros(*keep.shape, field.out_dim)
        raw[keep] = field(coords[keep]).to(raw.dtype)  # empty space is never evaluated
        density = torch.where(keep, self.activation(raw[..., -1]), 0.0)
        return composite(torch.sigmoid(raw[..., :-1]), density, edges, points, background.to(raw.dtype))

    def _render_rays(self, origins: Tensor, directions: Tensor, background: Tensor, *,
                     jitter: bool) -> dict[str, Composited]:
        """Rays ``(r, 3)`` -> the coarse pass and, with ``num_importance``, the fine pass."""
        edges = uniform_edges(self.near, self.far, origins.shape[0], self.num_samples, device=origins.device,
                              dtype=origins.dtype)
        coarse = self._shade(self.field, origins, directions, edges, interval_points(edges, jitter=jitter),
                             background)
        if not self.num_importance:
            return {"coarse": coarse}
        depths = sample_pdf(edges, coarse.weights, self.num_importance, deterministic=not jitter)
        fine_edges = merge_edges(edges, depths)
        fine = self._shade(self.fine_field or self.field, origins, directions, fine_edges,
                           interval_points(fine_edges, jitter=False), background)
        return {"coarse": coarse, "fine": fine}

    # -- Model ----------------------------------------------------------------------------------------------

    def _views(self, batch: dict[str, Tensor]) -> Views:
        if not isinstance(batch, dict) or not {"image", "pose", "intrinsics"} <= set(batch):
            got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(f"NeRF trains on the views of a scene: batches of {{image, pose, intrinsics}} "
                             f"(data: {{name: procedural-scene}} or {{name: blender, root: ...}}); got {got}")
        if self.random_background and "alpha" not in batch:
            raise ValueError("random_background recomposites the pictures by their alpha, but the batches have "
                             "none: use a scene dataset with alpha or set random_background=false")
        views = Views(batch["image"], batch.get("alpha"), batch["pose"], batch["intrinsics"])
        if views.images.shape[1] != self.field.out_dim - 1:
            raise IncompatibleComponentsError(
                f"the views have {views.images.shape[1]} colour channels but the field outputs "
                f"{self.field.out_dim - 1} (+ density): set field.out_dim={views.images.shape[1] + 1}"
            )
        return views

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """``rays_per_step`` random pixels of the batch's views -> ``{"coarse_mse", "fine_mse"}``."""
        images, alphas, poses, intrinsics = self._views(batch)
        b, _, h, w = images.shape
        index = torch.randint(b * h * w, (self.rays_per_step,), device=images.device)
        view, row, column = index // (h * w), index % (h * w) // w, index % w
        pixels = torch.stack([column, row], dim=-1).to(poses.dtype) + 0.5  # pixel centres (x, y)
        origins, directions = pixel_rays(poses[view], intrinsics[view], pixels)
        target = images[view, :, row, column]  # (r, c)
        background = self.background
        if self.random_background:  # the pixel recomposited: image = α·colour + (1 - α)·data's background
            background = torch.rand_like(target)
            target = target + (1 - alphas[view, :, row, column]) * (background - self.background)
        passes = self._render_rays(origins, directions, background, jitter=True)
        return {f"{name}_mse": F.mse_loss(out.rgb, target) for name, out in passes.items()}

    @torch.no_grad()
    def metrics(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Render the batch's views whole: ``psnr`` (dB), ``ssim`` and ``mse`` of the final pass, mean over views."""
        images, _, poses, intrinsics = self._views(batch)
        _, _, h, w = images.shape
        renders = torch.stack([self.render_view(Camera(pose, k, h, w))[0] for pose, k in zip(poses, intrinsics)])
        return {"psnr": psnr(renders, images, per_example=True).mean(), "ssim": ssim(renders, images),
                "mse": F.mse_loss(renders, images)}

    # -- BeforeUpdate: the occupancy grid follows the training ------------------------------------------------

    def before_update(self, updates_applied: int) -> None:
        """Refresh the occupancy grid every ``occupancy_update_every`` optimizer updates."""
        if self.occupancy is not None and updates_applied and updates_applied % self.occupancy_update_every == 0:
            fraction = 1.0 if updates_applied <= self.occupancy_warmup else self.occupancy_fraction
            self.occupancy.update(self._density, fraction=fraction)

    def _density(self, positions: Tensor) -> Tensor:
        """The largest density any of the fields gives ``positions`` ``(n, 3)`` (in scene coordinates)."""
        densities = []
        for field in filter(None, (self.field, self.fine_field)):
            coords = positions
            if field.in_dim == 6:  # the density does not depend on the direction: any unit vector does
                coords = torch.cat([positions, F.normalize(torch.randn_like(positions), dim=-1)], dim=-1)
            raw = torch.cat([field(part) for part in coords.split(self.chunk_size * self.num_samples)])
            densities.append(self.activation(raw[:, -1]))
        return torch.stack(densities).amax(0)

    # -- ScalarVolume: the density's level set, a mesh of the scene -----------------------------------------

    solid_above = True

    @property
    def volume_bounds(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        r = self.scene_radius
        return (-r, -r, -r), (r, r, r)

    @torch.no_grad()
    def scalar_field(self, points: Tensor) -> Tensor:
        """The density at world ``points`` ``(n, 3)`` -> ``(n,)``."""
        return self._density(points.to(self.background) / self.scene_radius)

    # -- ViewRenderer ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def render_view(self, camera: Camera) -> tuple[Tensor, Tensor]:
        """What ``camera`` sees: ``rgb`` ``(c, h, w)`` in [0, 1] and ``depth`` ``(h, w)``, ``chunk_size`` rays at
        a time."""
        origins, directions = camera.to(self.background.device).rays()
        rgb, depth = [], []
        for o, d in zip(origins.split(self.chunk_size), directions.split(self.chunk_size)):
            final = list(self._render_rays(o, d, self.background, jitter=False).values())[-1]
            rgb.append(final.rgb)
            depth.append(final.depth)
        h = camera.height
        return rearrange(torch.cat(rgb), "(h w) c -> c h w", h=h), rearrange(torch.cat(depth), "(h w) -> h w", h=h)

    def extra_repr(self) -> str:
        return (f"samples={self.num_samples}+{self.num_importance}, rays_per_step={self.rays_per_step}, "
                f"near={self.near}, far={self.far}, scene_radius={self.scene_radius}")
