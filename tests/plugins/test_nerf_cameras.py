"""zoo_nerf.cameras against hand-computed rays and an independent projection back onto the image."""

import math

import numpy as np
import pytest
import torch
from zoo_nerf.cameras import Camera, intrinsics_from_fov, look_at, orbit, pixel_centres, pixel_rays


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _project(points: np.ndarray, pose: np.ndarray, K: np.ndarray) -> np.ndarray:
    """World points (n, 3) -> pixel positions (n, 2), by inverting the pose (numpy, not zoo_nerf.cameras)."""
    R, t = pose[:3, :3], pose[:3, 3]
    local = (points - t) @ R  # R^T (p - t), row-wise
    depth = -local[:, 2]  # the camera looks down -z
    assert (depth > 0).all(), "points behind the camera"
    x = K[0, 0] * local[:, 0] / depth + K[0, 2]
    y = K[1, 2] - K[1, 1] * local[:, 1] / depth  # image rows grow downwards, camera y upwards
    return np.stack([x, y], axis=-1)


def test_centre_and_corner_rays_of_a_camera_at_the_origin():
    """Identity pose, f = 2, a 4x2 image: the rays through the pixel centres, computed by hand."""
    K = torch.tensor([[2.0, 0, 2.0], [0, 2.0, 1.0], [0, 0, 1]])
    camera = Camera(torch.eye(4), K, height=2, width=4)
    origins, directions = camera.rays()
    assert origins.shape == directions.shape == (8, 3)
    np.testing.assert_allclose(origins.numpy(), 0.0)
    # top-left pixel (row 0, col 0): centre (0.5, 0.5) -> ((0.5 - 2) / 2, -(0.5 - 1) / 2, -1)
    np.testing.assert_allclose(directions[0].numpy(), _unit([-0.75, 0.25, -1.0]), atol=1e-6)
    # bottom-right pixel (row 1, col 3): centre (3.5, 1.5)
    np.testing.assert_allclose(directions[-1].numpy(), _unit([0.75, -0.25, -1.0]), atol=1e-6)
    # the image centre (a pixel corner here) looks straight down -z
    _, centre = pixel_rays(camera.pose, K, torch.tensor([2.0, 1.0]))
    np.testing.assert_allclose(centre.numpy(), [0.0, 0.0, -1.0], atol=1e-7)


def test_rays_hit_their_pixels_when_projected_back():
    torch.manual_seed(0)
    pose = look_at(torch.tensor([1.0, -3.0, 2.0]), torch.tensor([0.1, 0.2, -0.3]), torch.tensor([0.0, 0.0, 1.0]))
    K = torch.tensor([[30.0, 0, 17.0], [0, 28.0, 11.0], [0, 0, 1]])
    camera = Camera(pose, K, height=20, width=32)
    origins, directions = camera.rays()
    distance = torch.rand(len(origins), 1) * 5 + 0.5
    points = (origins + distance * directions).double().numpy()
    expected = pixel_centres(20, 32).reshape(-1, 2).double().numpy()
    np.testing.assert_allclose(_project(points, pose.double().numpy(), K.double().numpy()), expected, atol=1e-3)
    np.testing.assert_allclose(directions.norm(dim=-1).numpy(), 1.0, atol=1e-6)
    np.testing.assert_allclose(origins.numpy(), np.broadcast_to(pose[:3, 3].numpy(), origins.shape), atol=1e-7)


def test_look_at_is_a_rotation_that_sees_its_target_in_the_middle():
    eye, target = torch.tensor([2.0, 2.0, 1.0]), torch.tensor([0.0, 0.5, 0.0])
    pose = look_at(eye, target, torch.tensor([0.0, 0.0, 1.0])).double().numpy()
    R = pose[:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)
    K = intrinsics_from_fov(math.radians(40), 64, 48).double().numpy()
    np.testing.assert_allclose(_project(target.double().numpy()[None], pose, K)[0], [32.0, 24.0], atol=1e-6)
    # the world's up stays up in the picture: a point above the target projects above the centre
    assert _project(np.array([[0.0, 0.5, 0.5]]), pose, K)[0, 1] < 24.0
    with pytest.raises(ValueError, match="parallel"):
        look_at(torch.tensor([0.0, 0.0, 3.0]), torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))


def test_field_of_view_and_resizing():
    K = intrinsics_from_fov(math.radians(90), 10, 6)
    assert K[0, 0].item() == pytest.approx(5.0)  # tan(45°) = 1: the focal length is half the width
    camera = Camera(torch.eye(4), K, 6, 10)
    bigger = camera.resized(12, 20)
    # the ray through a point of the small image is the ray through the same point, scaled, of the big one
    point = torch.tensor([3.3, 1.7])
    _, small = pixel_rays(camera.pose, camera.intrinsics, point)
    _, big = pixel_rays(bigger.pose, bigger.intrinsics, point * 2)
    np.testing.assert_allclose(small.numpy(), big.numpy(), atol=1e-6)


def test_orbit_circles_the_up_axis_at_the_cameras_height_and_distance():
    up = torch.tensor([0.0, 0.0, 1.0])
    K = intrinsics_from_fov(math.radians(40), 16, 16)
    eyes = [torch.tensor([3.0, 0.0, 1.0]), torch.tensor([0.0, -2.0, 3.0])]
    cameras = [Camera(look_at(e, torch.zeros(3), up), K, 16, 16) for e in eyes]
    frames = orbit(cameras, 8)
    assert len(frames) == 8
    centres = np.stack([f.pose[:3, 3].numpy() for f in frames])
    np.testing.assert_allclose(centres[:, 2], 2.0, atol=1e-5)  # mean height
    np.testing.assert_allclose(np.linalg.norm(centres[:, :2], axis=1), 2.5, atol=1e-5)  # mean distance from the axis
    angles = np.unwrap(np.arctan2(centres[:, 1], centres[:, 0]))
    np.testing.assert_allclose(np.diff(angles), 2 * np.pi / 8, atol=1e-5)
    for frame in frames:  # every frame looks at the origin
        pixel = _project(np.zeros((1, 3)), frame.pose.double().numpy(), K.double().numpy())[0]
        np.testing.assert_allclose(pixel, [8.0, 8.0], atol=1e-4)
