"""Multi-view scenes: the procedural scene's ray tracer against hand-computed hits and shadows, its
determinism and cameras, and the Blender loader on a tiny scene written here in that format."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from zoo_nerf.cameras import pixel_rays
from zoo_nerf.scenes import ProceduralScene, blender_scene, procedural_scene

from zoo.data import DataError, DataNotFoundError


def _scene() -> ProceduralScene:
    """A unit sphere of radius 0.5 resting at the origin and a box beside it (hand-checkable)."""
    return ProceduralScene(
        spheres=torch.tensor([[0.0, 0.0, 0.5, 0.5]], dtype=torch.float64),
        sphere_colours=torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64),
        boxes=torch.tensor([[0.6, -0.2, 0.0, 1.0, 0.2, 0.4]], dtype=torch.float64),
        box_colours=torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64),
    )


def test_rays_hit_the_primitives_where_geometry_says():
    down = [0.0, 0.0, -1.0]
    origins = torch.tensor([[0, 0, 3], [0.8, 0, 3], [-1, -1, 3], [5, 0, 0.2], [0, 0, 3], [-1.1, 0.0, 3]]).double()
    directions = torch.tensor([down, down, down, [-1, 0, 0], [0, 0, 1], down]).double()
    t, normal, albedo, is_object = _scene().intersect(origins, directions)
    # sphere top at z = 1; box top at z = 0.4; ground at z = 0; box face x = 1 from the side; a miss (upwards)
    np.testing.assert_allclose(t[:4].numpy(), [2.0, 2.6, 3.0, 4.0])
    assert math.isinf(t[4]) and not is_object[4]
    np.testing.assert_allclose(normal[:4].numpy(), [[0, 0, 1], [0, 0, 1], [0, 0, 1], [1, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(albedo[:2].numpy(), [[1, 0, 0], [0, 0, 1]])
    assert is_object[:2].all() and not is_object[2]
    # the checker of 0.3-wide tiles: (-1, -1) is in tile (-4, -4), an even one (light), and (-1.1, 0) in
    # tile (-4, 0), light too; one tile along x, (-0.75, 0) is in tile (-3, 0), an odd one (dark)
    np.testing.assert_allclose(albedo[[2, 5]].numpy(), [[0.85, 0.85, 0.85]] * 2)
    _, _, dark, _ = _scene().intersect(torch.tensor([[-0.75, 0.1, 3.0]]).double(), directions[:1])
    np.testing.assert_allclose(dark[0].numpy(), [0.3, 0.3, 0.35])


def test_the_sphere_shadows_the_ground_behind_it():
    scene = _scene()
    light = torch.tensor(scene.light).double()
    centre = torch.tensor([0.0, 0.0, 0.5]).double()
    shadowed = centre - (centre[2] / light[2]) * light  # the ground point whose path to the light crosses the centre
    sunny = torch.tensor([-0.9, 0.9, 0.0]).double()
    # seen from above, but from the side away from the sphere, which would hide the shadow from straight up
    away = torch.cat([shadowed[:2] / shadowed[:2].norm(), torch.ones(1).double()]) / math.sqrt(2)
    origins = torch.stack([shadowed + 3 * away, sunny + torch.tensor([0.0, 0.0, 3.0]).double()])
    directions = torch.stack([-away, torch.tensor([0.0, 0.0, -1.0]).double()])
    colours, hit = scene.trace(origins, directions, torch.ones(3).double())
    assert hit.all()
    t, _, albedo, is_object = scene.intersect(origins, directions)
    np.testing.assert_allclose(t.numpy(), 3.0)  # both rays see the ground
    assert not is_object.any()
    np.testing.assert_allclose(colours[0].numpy(), albedo[0].numpy() * scene.ambient, atol=1e-12)
    lit = scene.ambient + (1 - scene.ambient) * light[2].item()  # n = (0, 0, 1): Lambert's cosine is light_z
    np.testing.assert_allclose(colours[1].numpy(), albedo[1].numpy() * lit, atol=1e-12)


def test_the_procedural_scene_is_deterministic_and_its_seed_matters():
    a = procedural_scene(size=12, num_train=3, seed=0)
    b = procedural_scene(size=12, num_train=3, seed=0)
    c = procedural_scene(size=12, num_train=3, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.poses, b.poses)
    assert not torch.equal(a.images, c.images) and not torch.equal(a.poses, c.poses)
    item = a[0]
    assert set(item) == {"image", "alpha", "pose", "intrinsics"} and item["image"].shape == (3, 12, 12) == a.shape
    assert item["image"].dtype == torch.float32 and 0 <= item["image"].min() and item["image"].max() <= 1
    # where nothing covers a pixel it is the background; the scene (ground, objects) covers the middle
    alpha = torch.stack([a[i]["alpha"] for i in range(3)])
    images = torch.stack([a[i]["image"] for i in range(3)])
    assert alpha.shape == (3, 1, 12, 12) and (alpha[..., 5:7, 5:7] == 1).all() and (alpha == 0).any()
    assert (images.permute(1, 0, 2, 3)[:, alpha[:, 0] == 0] == 1).all()


def test_any_resolution_same_cameras_and_held_out_views_between_training_views():
    small, big = procedural_scene(size=8, num_train=4), procedural_scene(size=24, num_train=4)
    assert big.shape == (3, 24, 24) and torch.equal(small.poses, big.poses)
    torch.testing.assert_close(big.intrinsics[0, :2], small.intrinsics[0, :2] * 3)
    # a coarse picture is roughly the finer one averaged (both antialiased renders of one scene)
    coarse = torch.nn.functional.avg_pool2d(big[0]["image"][None], 3)[0]
    assert (coarse - small[0]["image"]).abs().mean() < 0.05
    test = procedural_scene(size=8, split="test", num_test=6)
    assert len(test) == 6 and len(procedural_scene(size=8, split="val", num_test=6)) == 6
    train_eyes, test_eyes = small.poses[:, :3, 3], test.poses[:, :3, 3]
    assert torch.cdist(test_eyes, train_eyes).min() > 0.1  # held out: no training camera is there
    for dataset in (small, test):  # every camera sits 4 from the origin and looks at it
        np.testing.assert_allclose(dataset.poses[:, :3, 3].norm(dim=-1).numpy(), 4.0, rtol=1e-6)
        camera = dataset.camera(0)
        _, centre = pixel_rays(camera.pose, camera.intrinsics, torch.tensor([camera.width / 2, camera.height / 2]))
        np.testing.assert_allclose(centre.numpy(), (-camera.pose[:3, 3] / 4).numpy(), atol=1e-6)


# --- the Blender format ------------------------------------------------------------------------------------


def _write_blender_scene(root, split: str, n: int, h: int = 4, w: int = 6, seed: int = 0):
    """A scene in NeRF's synthetic format: transforms_{split}.json + RGBA PNGs (alpha 0, 255 and between)."""
    rng = np.random.default_rng(seed)
    frames, images = [], []
    (root / split).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rgba = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
        rgba[0, 0, 3], rgba[0, 1, 3] = 0, 255
        Image.fromarray(rgba, "RGBA").save(root / split / f"r_{i}.png")
        pose = np.eye(4)
        pose[:3, 3] = rng.normal(size=3)
        frames.append({"file_path": f"./{split}/r_{i}", "rotation": 0.1, "transform_matrix": pose.tolist()})
        images.append(rgba)
    (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": 0.69, "frames": frames}))
    return np.stack(images), np.stack([f["transform_matrix"] for f in frames])


def _composite(rgba: np.ndarray, background: float) -> np.ndarray:
    rgba = rgba.astype(np.float64) / 255
    return rgba[..., :3] * rgba[..., 3:] + background * (1 - rgba[..., 3:])


def test_blender_scene_loads_views_composited_onto_the_background(tmp_path):
    rgba, poses = _write_blender_scene(tmp_path, "train", 3)
    _write_blender_scene(tmp_path, "val", 2, seed=1)
    scene = blender_scene(root=str(tmp_path))
    assert len(scene) == 3 and scene.shape == (3, 4, 6)
    expected = _composite(rgba, 1.0).transpose(0, 3, 1, 2)
    got = np.stack([scene[i]["image"].numpy() for i in range(3)])
    np.testing.assert_allclose(got, expected, atol=0.5 / 255 + 1e-6)
    assert (got[:, :, 0, 0] == 1.0).all()  # fully transparent: the white background
    alpha = np.stack([scene[i]["alpha"].numpy() for i in range(3)])
    np.testing.assert_allclose(alpha, rgba[..., 3][:, None] / 255, atol=1e-6)
    np.testing.assert_allclose(scene.poses.numpy(), poses, atol=1e-6)
    focal = 0.5 * 6 / math.tan(0.5 * 0.69)
    np.testing.assert_allclose(scene.intrinsics[0].numpy(), [[focal, 0, 3], [0, focal, 2], [0, 0, 1]], rtol=1e-6)
    black = blender_scene(root=str(tmp_path), split="val", background="black")
    assert len(black) == 2 and (black[0]["image"][:, 0, 0] == 0).all()


def test_blender_half_resolution_averages_pixel_blocks_and_halves_the_focal_length(tmp_path):
    rgba, _ = _write_blender_scene(tmp_path, "test", 2, h=8, w=10)
    full, half = blender_scene(root=str(tmp_path), split="test"), blender_scene(root=str(tmp_path), split="test",
                                                                              half_res=True)
    assert half.shape == (3, 4, 5)
    blocks = _composite(rgba, 1.0).reshape(2, 4, 2, 5, 2, 3).mean(axis=(2, 4)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(np.stack([half[i]["image"].numpy() for i in range(2)]), blocks, atol=2.5 / 255)
    torch.testing.assert_close(half.intrinsics[:, :2], full.intrinsics[:, :2] / 2)


def test_blender_errors_say_what_is_missing(tmp_path):
    with pytest.raises(DataNotFoundError, match="data.root"):
        blender_scene()
    with pytest.raises(DataNotFoundError, match="transforms_train.json"):
        blender_scene(root=str(tmp_path))
    _write_blender_scene(tmp_path, "train", 2)
    with pytest.raises(DataError, match="split"):
        blender_scene(root=str(tmp_path), split="holdout")
    (tmp_path / "train" / "r_1.png").unlink()
    with pytest.raises(DataNotFoundError, match="r_1.png"):
        blender_scene(root=str(tmp_path))
    (tmp_path / "train" / "r_1.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="corrupt image file .*r_1.png"):
        blender_scene(root=str(tmp_path))
    meta = json.loads((tmp_path / "transforms_train.json").read_text())
    meta["frames"][0]["file_path"] = "../../etc/passwd"
    (tmp_path / "transforms_train.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="outside the scene folder"):
        blender_scene(root=str(tmp_path))
    (tmp_path / "transforms_train.json").write_text('{"frames": []}')
    with pytest.raises(DataError, match="not a Blender transforms file"):
        blender_scene(root=str(tmp_path))


def test_a_frame_symlinked_outside_the_scene_is_refused(tmp_path):
    """The path is resolved once complete: ``train/r_0`` + ``.png``, a link to a picture outside the folder."""
    scene, outside = tmp_path / "scene", tmp_path / "secret.png"
    _write_blender_scene(scene, "train", 2)
    (scene / "train" / "r_0.png").rename(outside)
    (scene / "train" / "r_0.png").symlink_to(outside)
    with pytest.raises(DataError, match=r"'./train/r_0' points outside the scene folder"):
        blender_scene(root=str(scene))
    inside = scene / "train" / "linked.png"  # a link that stays inside is an ordinary frame
    inside.symlink_to(scene / "train" / "r_1.png")
    (scene / "train" / "r_0.png").unlink()
    (scene / "train" / "r_0.png").symlink_to(inside)
    assert len(blender_scene(root=str(scene))) == 2


def _with(root, split: str, change) -> None:
    meta = json.loads((root / f"transforms_{split}.json").read_text())
    change(meta)
    (root / f"transforms_{split}.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("matrix, problem", [
    ([[float("nan")] * 4] * 4, "not finite"),
    ([[0.0] * 4] * 4, "last row"),
    ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]], "no rotation"),
    ([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]], "no rotation"),  # a scale
    ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]], "mirrors the world"),
])
def test_a_pose_that_is_not_a_rotation_and_a_translation_is_refused(tmp_path, matrix, problem):
    _write_blender_scene(tmp_path, "train", 2)
    _with(tmp_path, "train", lambda meta: meta["frames"][1].update(transform_matrix=matrix))
    with pytest.raises(DataError, match=rf"frame './train/r_1': the transform_matrix .*{problem}"):
        blender_scene(root=str(tmp_path))


@pytest.mark.parametrize("angle", [0.0, -0.5, math.pi, 4.0, float("nan"), float("inf")])
def test_a_field_of_view_outside_zero_to_pi_is_refused(tmp_path, angle):
    _write_blender_scene(tmp_path, "train", 1)
    _with(tmp_path, "train", lambda meta: meta.update(camera_angle_x=angle))
    with pytest.raises(DataError, match=r"camera_angle_x is .* lies in \(0, π\) radians"):
        blender_scene(root=str(tmp_path))


@pytest.mark.parametrize("option, value, allowed", [
    ("distance", 0.0, "> 0"), ("distance", -2.0, "> 0"), ("fov", 0.0, "> 0 and < 180"),
    ("fov", 180.0, "> 0 and < 180"), ("num_train", 0, ">= 1"), ("size", -1, ">= 1"),
])
def test_the_procedural_scene_checks_its_numbers_in_a_recipe(option, value, allowed):
    from zoo.errors import RecipeError
    from zoo.recipes import load_recipe

    with pytest.raises(RecipeError, match=rf"data.{option}: expected .*{allowed}, got {value}"):
        load_recipe("nerf-tiny", overrides=[f"data.{option}={value}"])


def test_the_scenes_are_datasets_of_the_nerf_plugin_with_the_factory_signature():
    import inspect

    from zoo.registry import get_registry

    for name, factory in (("procedural-scene", procedural_scene), ("blender", blender_scene)):
        entry = get_registry().get("dataset", name)
        assert (entry.obj, entry.plugin) == (factory, "zoo_nerf")
        params = inspect.signature(factory).parameters
        assert all(p.kind is p.KEYWORD_ONLY for p in params.values())
        assert params["root"].default is None and params["split"].default == "train"
