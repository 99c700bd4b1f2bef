"""NeRF plugin: the paper's field, the model's rays and renders against an analytic scene (a ball), the
occupancy grid against a brute-force lookup, and a short training run through the zoo's loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor
from zoo_nerf import HashGridField, NeRF, NeRFField, SirenNeRFField
from zoo_nerf.cameras import Camera, intrinsics_from_fov, look_at
from zoo_nerf.occupancy import OccupancyGrid

import zoo
from zoo.errors import IncompatibleComponentsError, RecipeError
from zoo.interfaces import ImplicitField


class Ball(ImplicitField):
    """An opaque red ball of ``radius`` (scene coordinates) at the origin, as raw NeRF outputs (fixture).

    ``norm=inf`` makes it a cube of half-size ``radius``.
    """

    in_dim, out_dim = 6, 4

    def __init__(self, radius: float, norm: float = 2.0):
        super().__init__()
        self.radius, self.norm = radius, norm
        self.unused = torch.nn.Parameter(torch.zeros(()))  # a model needs a parameter to live on a device

    def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
        inside = coords[..., :3].norm(p=self.norm, dim=-1, keepdim=True) < self.radius
        colour = torch.tensor([8.0, -8.0, -8.0]).expand(*coords.shape[:-1], 3)  # sigmoid: (1, 0, 0)
        return torch.cat([colour, torch.where(inside, 500.0, -30.0)], dim=-1) + 0 * self.unused


def camera_at(distance: float, size: int = 16, fov: float = 40.0) -> Camera:
    pose = look_at(torch.tensor([0.0, -distance, 0.0]), torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))
    return Camera(pose, intrinsics_from_fov(math.radians(fov), size, size), size, size)


# -- the field -------------------------------------------------------------------------------------------------


def test_nerf_field_has_the_papers_layers():
    """γ(x): 3 + 3·2·10 = 63 features, γ(d): 3 + 3·2·4 = 27; 8 layers of 256 with γ(x) again before the 6th;
    density from the trunk; a 256 -> 256 bottleneck, then (256 + 27) -> 128 -> 3 for colour. nerf-pytorch's count."""
    field = NeRFField()
    trunk = 63 * 256 + 256 + 4 * (256 * 256 + 256) + (256 + 63) * 256 + 256 + 2 * (256 * 256 + 256)
    heads = (256 + 1) + (256 * 256 + 256) + (283 * 128 + 128) + (128 * 3 + 3)
    assert sum(p.numel() for p in field.parameters()) == trunk + heads == 595_844
    assert field.trunk.layers[5].in_features == 256 + 63


def test_density_ignores_the_view_direction_but_colour_does_not():
    torch.manual_seed(0)
    for field in (NeRFField(hidden_dim=32, num_layers=4, skips=(1,)), SirenNeRFField(hidden_dim=32, num_layers=2),
                  HashGridField(6, 4, view_dependent=True, num_levels=4, log2_table_size=10)):
        position = torch.rand(50, 3) * 2 - 1
        d1, d2 = (torch.nn.functional.normalize(torch.randn(50, 3), dim=-1) for _ in range(2))
        a, b = field(torch.cat([position, d1], -1)), field(torch.cat([position, d2], -1))
        torch.testing.assert_close(a[:, -1], b[:, -1])
        assert (a[:, :-1] - b[:, :-1]).abs().max() > 1e-4, type(field).__name__


def test_fields_say_what_sizes_they_need():
    with pytest.raises(ValueError, match="in_dim = 2k"):
        NeRFField(in_dim=5, view_dependent=True)
    with pytest.raises(IncompatibleComponentsError, match="in_dim=6"):
        NeRF(NeRFField(in_dim=2, out_dim=4, hidden_dim=8, num_layers=2, skips=()))
    assert HashGridField(in_dim=3, out_dim=1)(torch.rand(7, 3)).shape == (7, 1)  # images and volumes too


# -- rays and renders of an analytic scene ---------------------------------------------------------------------


def test_a_ball_renders_red_in_the_middle_with_the_right_depth_and_white_around():
    """A camera 4 from a ball of radius 0.75: the centre ray ends at 3.25 (to within the fine samples),
    a corner ray misses and sees the white background at depth far."""
    model = NeRF(Ball(0.5), num_samples=64, num_importance=64, scene_radius=1.5, chunk_size=50)
    rgb, depth = model.render_view(camera_at(4.0))
    assert rgb.shape == (3, 16, 16) and depth.shape == (16, 16)
    centre = (slice(None), slice(7, 9), slice(7, 9))
    torch.testing.assert_close(rgb[centre], torch.tensor([1.0, 0, 0])[:, None, None].expand(3, 2, 2), atol=1e-3,
                               rtol=0)
    assert (depth[7:9, 7:9] - 3.25).abs().max() < 0.02, depth[7:9, 7:9]  # the hit, seen off-centre by < 0.1°
    torch.testing.assert_close(rgb[:, 0, 0], torch.ones(3))
    assert depth[0, 0] == pytest.approx(6.0)
    # the coarse pass alone only knows the surface to within its interval of (6 - 2) / 64
    coarse = NeRF(Ball(0.5), num_samples=64, num_importance=0, scene_radius=1.5)
    assert (coarse.render_view(camera_at(4.0))[1][7:9, 7:9] - 3.25).abs().max() < 4 / 64


def test_chunks_change_nothing_and_density_stops_at_the_scene_box():
    field = NeRFField(hidden_dim=16, num_layers=3, skips=(1,), num_frequencies=4)
    small = NeRF(field, num_samples=16, num_importance=8, chunk_size=37)
    whole = NeRF(field, num_samples=16, num_importance=8, chunk_size=10_000)
    for a, b in zip(small.render_view(camera_at(4.0, size=12)), whole.render_view(camera_at(4.0, size=12))):
        torch.testing.assert_close(a, b)
    # a ball bigger than the box is cut by it: from 4 away, the box face at 1.5 is hit at 2.5 (whatever the
    # activation makes of the raw outputs that are never computed)
    model = NeRF(Ball(5.0), num_samples=64, num_importance=64, scene_radius=1.5, density_activation="softplus")
    assert model.render_view(camera_at(4.0))[1][8, 8].item() == pytest.approx(2.5, abs=0.02)


def test_loss_renders_random_pixels_of_the_batch_views():
    """A scene of one view whose pixels all equal what the ball renders there has zero loss; one with a wrong
    pixel colour has the loss of that pixel's share."""
    torch.manual_seed(0)
    model = NeRF(Ball(0.5), num_samples=64, num_importance=32, rays_per_step=32768)
    camera = camera_at(4.0)
    rgb, _ = model.render_view(camera)
    batch = {"image": rgb[None], "pose": camera.pose[None], "intrinsics": camera.intrinsics[None]}
    terms = model.loss(batch)
    assert set(terms) == {"coarse_mse", "fine_mse"} and terms["fine_mse"].item() < 1e-6
    wrong = rgb.clone()
    wrong[:, 8, 8] = torch.tensor([0.0, 0.0, 1.0])  # was red: a squared error of 2 on 1 of 256 pixels, / 3 channels
    terms = model.loss({**batch, "image": wrong[None]})
    assert terms["fine_mse"].item() == pytest.approx(2 / 3 / 256, rel=0.15)  # ~128 ± 11 draws of that pixel
    with pytest.raises(ValueError, match="image, pose, intrinsics"):
        model.loss(rgb[None])


# -- the occupancy grid ---------------------------------------------------------------------------------------


def test_occupancy_lookup_never_skips_a_sample_of_an_occupied_cell():
    torch.manual_seed(0)
    grid = OccupancyGrid(8)
    grid.mask.copy_(torch.rand(8, 8, 8) < 0.3)
    points = torch.rand(5000, 3) * 2.4 - 1.2  # some outside the box
    cells = np.floor((points.numpy() + 1) / 2 * 8).astype(int)  # the cell of each point, by hand
    inside = (np.abs(points.numpy()) <= 1).all(-1)
    cells = np.clip(cells, 0, 7)
    expected = inside & grid.mask.numpy()[cells[:, 0], cells[:, 1], cells[:, 2]]
    np.testing.assert_array_equal(grid.occupied(points).numpy(), expected)


def test_occupancy_update_marks_the_cells_where_the_density_is():
    torch.manual_seed(0)
    grid = OccupancyGrid(16, threshold=1.0)
    assert grid.mask.all()  # before any update nothing is skipped
    ball = lambda p: torch.where(p.norm(dim=-1) < 0.5, 100.0, 0.0)  # noqa: E731
    for _ in range(5):  # random points per cell: a few rounds find the cells the ball only clips
        grid.update(ball)
    centres = (torch.stack(torch.meshgrid(*[torch.arange(16.0)] * 3, indexing="ij"), -1) + 0.5) / 16 * 2 - 1
    distance = centres.norm(dim=-1)
    half_diagonal = math.sqrt(3) / 16
    assert grid.mask[distance < 0.5 - half_diagonal].all()  # cells wholly inside the ball
    assert not grid.mask[distance > 0.5 + half_diagonal].any()  # cells wholly outside


def test_occupancy_remembers_a_cell_its_random_point_missed_and_forgets_it_at_the_decay_rate():
    """Each update looks at one random point per cell, so a thin surface can be missed: the grid keeps a
    decaying maximum, and a cell it once saw dense stays occupied while the memory lasts."""
    grid = OccupancyGrid(2, threshold=1.0, decay=0.5)
    one_cell = lambda p: torch.where((p > 0).all(-1), 8.0, 0.0)  # noqa: E731  the cell (1, 1, 1)
    grid.update(one_cell)
    assert grid.mask[1, 1, 1] and grid.mask.sum() == 1
    empty = lambda p: torch.zeros(len(p))  # noqa: E731  the next updates miss it
    for remembered in (4.0, 2.0, 1.0, 0.5):  # 8 halved each update, by hand
        grid.update(empty)
        assert grid.density[1, 1, 1].item() == remembered
        assert grid.mask[1, 1, 1]  # above min(threshold, mean): still occupied
    rest = lambda p: torch.where((p > 0).all(-1), 0.0, 2.0)  # noqa: E731  the other cells fill
    grid.update(rest)  # the mean rises: the threshold rules, and the faded 0.25 is below it
    assert grid.density[1, 1, 1].item() == 0.25 and grid.mask.sum() == 7 and not grid.mask[1, 1, 1]


def test_a_partial_update_looks_at_the_occupied_cells_and_a_uniform_sample_and_only_decays_the_others():
    torch.manual_seed(0)
    grid = OccupancyGrid(8, threshold=1.0, decay=0.5)
    grid.update(lambda p: torch.where((p < -0.75).all(-1), 8.0, 0.0))  # every cell: only (0, 0, 0) is dense
    assert grid.mask.sum() == 1 and grid.mask[0, 0, 0]
    looked_at = []

    def everywhere_one(points):
        looked_at.append(grid.cells(points))
        return torch.ones(len(points))

    grid.update(everywhere_one, fraction=0.25)  # 64 cells drawn from all, 64 from the occupied one
    cells = looked_at[0]
    assert 64 <= len(cells) <= 65 and len(cells.unique(dim=0)) == len(cells)  # each cell looked at once
    assert (cells == 0).all(-1).any()  # the occupied cell is among them
    looked = torch.zeros(8, 8, 8, dtype=torch.bool)
    looked[tuple(cells.T)] = True
    assert grid.density[0, 0, 0] == 4.0  # max(8 x 0.5, 1)
    assert (grid.density[looked & ~grid.mask] == 1.0).all()  # the fresh density where it looked
    assert (grid.density[~looked] == 0.0).all()  # elsewhere only the decay (of 0)


def test_nerf_updates_every_cell_during_the_warmup_and_a_fraction_after_it():
    model = NeRF(Ball(0.5), num_samples=8, num_importance=0, occupancy_resolution=4, occupancy_update_every=2,
                 occupancy_warmup=4, occupancy_fraction=0.5)
    fractions = []
    model.occupancy.update = lambda density, fraction: fractions.append(fraction)
    for updates in range(1, 9):
        model.before_update(updates)
    assert fractions == [1.0, 1.0, 0.5, 0.5]  # at updates 2, 4 (the warm-up), 6 and 8
    with pytest.raises(RecipeError, match=r"^model 'nerf': occupancy_fraction: expected float > 0 and <= 1, got 0.0$"):
        zoo.create("model", "nerf", field=Ball(0.5), occupancy_resolution=4, occupancy_fraction=0.0)


def test_skipping_empty_space_renders_the_same_picture():
    """A cube whose faces lie on cell boundaries (half-size 0.25 = 4 of 32 cells of [-1, 1]): one update of the
    grid finds exactly its cells, and skipping the others changes no pixel."""
    camera = camera_at(4.0)
    cube = Ball(0.25, norm=math.inf)
    plain = NeRF(cube, num_samples=64, num_importance=32)
    skipping = NeRF(cube, num_samples=64, num_importance=32, occupancy_resolution=32, occupancy_update_every=2)
    skipping.before_update(0)
    skipping.before_update(1)
    assert skipping.occupancy.mask.all()  # no update is due before the second optimizer update
    skipping.before_update(2)
    assert skipping.occupancy.mask.sum() == 8**3  # the cube's 8 x 8 x 8 cells, and only those
    for a, b in zip(plain.render_view(camera), skipping.render_view(camera)):
        torch.testing.assert_close(a, b)


def test_rays_that_meet_only_empty_cells_render_the_background():
    """Every cell empty: no sample is evaluated (the hash grid gets zero points) and each ray shows the background
    at the far bound, the closed form of a ray through nothing."""
    field = HashGridField(6, 4, view_dependent=True, num_levels=2, log2_table_size=8, base_resolution=4,
                          max_resolution=8, hidden_dim=8, num_layers=1)
    model = NeRF(field, num_samples=8, num_importance=4, occupancy_resolution=4, chunk_size=64)
    model.occupancy.mask.zero_()
    rgb, depth = model.render_view(camera_at(4.0))
    torch.testing.assert_close(rgb, torch.ones(3, 16, 16))
    torch.testing.assert_close(depth, torch.full((16, 16), model.far))


def test_random_backgrounds_recomposite_the_target_by_its_alpha():
    """Pictures of the ball on white with their true coverage: recomposited onto random colours they are still
    exactly what the model renders on those colours (zero loss); ignoring the alpha is not."""
    torch.manual_seed(0)
    model = NeRF(Ball(0.5), num_samples=64, num_importance=32, rays_per_step=2048, random_background=True)
    camera = camera_at(4.0)
    rgb, _ = model.render_view(camera)
    origins, directions = camera.rays()
    opacity = model._render_rays(origins, directions, model.background, jitter=False)["fine"].opacity
    batch = {"image": rgb[None], "alpha": opacity.reshape(1, 1, 16, 16), "pose": camera.pose[None],
             "intrinsics": camera.intrinsics[None]}
    assert model.loss(batch)["fine_mse"].item() < 1e-6
    assert model.loss({**batch, "alpha": torch.ones(1, 1, 16, 16)})["fine_mse"].item() > 1e-2
    with pytest.raises(ValueError, match="alpha"):
        model.loss({k: v for k, v in batch.items() if k != "alpha"})


# -- through the zoo: train, evaluate, render -------------------------------------------------------------------

TINY = ["data.size=8", "data.num_train=3", "data.num_test=2", "rays_per_step=64", "num_samples=8",
        "occupancy_resolution=8", "occupancy_update_every=2", "train.steps=4", "train.batch_size=1",
        "train.eval_every=2", "train.eval_batches=2", "train.log_every=2", "train.checkpoint_every=2"]


def test_a_scene_recipe_trains_evaluates_and_renders_held_out_views_and_an_orbit(tmp_path, capsys):
    import json

    from PIL import Image

    import zoo.training
    from zoo import viz
    from zoo.cli import main
    from zoo.recipes import load_recipe

    run = zoo.training.train(load_recipe("nerf-toy", overrides=TINY), tmp_path / "run", quiet=True)
    # the finished run's pictures: 2 held-out views (8 px, shown as 64 px tiles) over their renders and depths
    assert Image.open(run / "views.png").size == (2 * 64 + 3 * 2, 3 * 64 + 4 * 2)
    metrics = zoo.training.evaluate(run, device="cpu")
    assert {"psnr", "ssim", "mse"} <= set(metrics) and 0 < metrics["psnr"] < 60 and -1 <= metrics["ssim"] <= 1
    assert metrics["psnr"] == pytest.approx(-10 * math.log10(metrics["mse"]), abs=3)  # mean of views' PSNRs

    out = zoo.training.render(run, frames=3, device="cpu")
    assert out == run / "render"
    video = {"orbit.mp4"} if viz.can_save_mp4() else set()  # with genzoo[video] (the test extras have it)
    assert {p.name for p in out.iterdir()} == {"views.png", "orbit.gif", "orbit-depth.gif", "orbit"} | video
    gif = Image.open(out / "orbit.gif")
    assert (gif.n_frames, gif.size) == (3, (8, 8))
    assert sorted(p.name for p in (out / "orbit").iterdir()) == [f"{k}-00{i}.png" for k in ("depth", "rgb")
                                                                 for i in range(3)]
    bigger = zoo.training.render(run, 16, tmp_path / "big", frames=2, device="cpu")
    assert Image.open(bigger / "orbit" / "rgb-001.png").size == (16, 16)
    capsys.readouterr()
    for argv, says in [(["--frames", "0"], "--frames: expected int >= 1, got 0"),
                       (["--frames", "-3"], "--frames: expected int >= 1, got -3"),
                       (["--size", "100000"], "2 views and 40 orbit frames at 100000x100000 would need"),
                       (["-o", "orbit.gif"], "this writes a folder of pictures (render/); name a folder"),
                       (["--offset", "0.5"], "the artifact 'orbit' (for any ViewRenderer), which takes no --offset")]:
        assert main(["render", str(run), *argv]) == 2
        assert says in " ".join(capsys.readouterr().err.split())

    assert main(["eval", str(run), "--json"]) == 0
    assert {"psnr", "ssim"} <= set(json.loads(capsys.readouterr().out))


@pytest.mark.parametrize("name", ["nerf-toy", "nerf-toy-vanilla", "nerf-siren-toy", "nerf-blender",
                                  "hashgrid-camera"])
def test_recipes_build(name):
    from zoo.recipes import build_model, load_recipe
    from zoo.training import TrainSettings

    recipe = load_recipe(name)
    model = build_model(recipe)
    settings = TrainSettings.from_recipe(recipe)
    assert (settings.best_metric, settings.best_mode) == ("psnr", "max")
    if recipe["model"]["name"] == "nerf":
        assert isinstance(model, NeRF) and recipe["data"]["name"] in ("procedural-scene", "blender")
    else:  # the hash-grid field fits images like any other field
        assert isinstance(model.field, HashGridField) and model.field.in_dim == 2


@pytest.mark.parametrize("data", ["camera", "digits", "{name: image, size: 16}"])
def test_a_nerf_recipe_with_pictures_instead_of_views_is_refused_when_it_is_validated(data):
    """Not at the first step, as a traceback: the recipe check names what NeRF trains on and what fits."""
    from zoo.errors import RecipeError
    from zoo.recipes import load_recipe

    with pytest.raises(RecipeError, match=r"^data: model 'nerf' takes views \(pictures of one scene, .*\), but "
                                          r"dataset '\w+' holds (signals|images); datasets it takes: blender, "
                                          r"procedural-scene$"):
        load_recipe("nerf-tiny", overrides=[f"data={data}"])


def test_a_radiance_field_is_meshed_at_a_level_of_its_density():
    from zoo.interfaces import ScalarVolume
    from zoo.meshes import extract_mesh
    from zoo.recipes import build_model, load_recipe

    model = build_model(load_recipe("nerf-tiny"))
    assert isinstance(model, ScalarVolume) and model.solid_above
    r = model.scene_radius
    assert model.volume_bounds == ((-r, -r, -r), (r, r, r))
    points = torch.rand(64, 3) * 2 * r - r
    assert torch.equal(model.scalar_field(points), model._density(points / r))
    values = model.scalar_field(points)
    mesh = extract_mesh(model, 12, level=float(values.median()))
    assert len(mesh.faces) and (mesh.vertices.abs() <= r + 1e-5).all()
