"""The zoo_sdf plugin: exact shapes, oriented samples, SIREN's four loss terms, the point-cloud reader, zoo export."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from zoo import training
from zoo.cli import main
from zoo.errors import DataError
from zoo.interfaces import ImplicitField
from zoo.nn.diff import gradient
from zoo.recipes import load_recipe
from zoo_sdf.data import read_point_cloud, shapes
from zoo_sdf.model import SdfFit
from zoo_sdf.shapes import SHAPES, RoundedBox, Sphere, Torus, sample_oriented
from zoo_siren.fields import Siren

#: shape -> a point inside it and one outside it
SIDES = {
    "sphere": ((0.1, 0.0, 0.0), (0.0, 0.0, 0.7)),
    "torus": ((0.55, 0.0, 0.0), (0.0, 0.0, 0.0)),
    "rounded-box": ((0.5, 0.3, 0.2), (0.59, 0.44, 0.34)),  # just inside the box, but outside its rounded corner
    "union": ((-0.4, 0.0, 0.1), (0.0, 0.9, 0.9)),
    "smooth-union": ((0.0, 0.0, 0.0), (0.9, 0.9, 0.9)),
}


def _points(n: int = 512, seed: int = 0) -> Tensor:
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1


@pytest.mark.parametrize("name", [name for name in SHAPES if name != "smooth-union"])
def test_an_exact_shape_has_a_unit_gradient(name):
    x = _points().requires_grad_()
    grad = gradient(SHAPES[name](0).sdf(x)[:, None], x)
    assert torch.allclose(grad.norm(dim=-1), torch.ones(len(x), dtype=x.dtype), atol=1e-9)


@pytest.mark.parametrize("name", SIDES)
def test_a_shape_is_negative_inside_and_positive_outside(name):
    inside, outside = SIDES[name]
    values = SHAPES[name](0).sdf(torch.tensor([inside, outside], dtype=torch.float64))
    assert values[0] < 0 < values[1]


def test_the_distances_are_the_closed_forms():
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    assert torch.allclose(Sphere().sdf(x), torch.tensor([0.4, -0.6, 0.4], dtype=torch.float64))
    assert torch.allclose(Torus().sdf(x), torch.tensor([math.hypot(0.45, 0) - 0.25, 0.3, math.hypot(0.55, 1) - 0.25],
                                                       dtype=torch.float64))
    assert torch.allclose(RoundedBox(half=(0.5, 0.5, 0.5), radius=0.0).sdf(x), torch.tensor([0.5, -0.5, 0.5],
                                                                                            dtype=torch.float64))


@pytest.mark.parametrize("name", SHAPES)
def test_sampled_points_are_on_the_surface_with_unit_outward_normals(name):
    shape = SHAPES[name](0)
    points, normals = sample_oriented(shape, 500, generator=torch.Generator().manual_seed(1))
    points, normals = points.double(), normals.double()
    assert shape.sdf(points).abs().max() < 1e-5
    assert torch.allclose(normals.norm(dim=-1), torch.ones(500, dtype=torch.float64), atol=1e-5)
    assert (shape.sdf(points + 0.01 * normals) > 0).all() and (shape.sdf(points - 0.01 * normals) < 0).all()


def test_the_scene_is_the_procedural_scenes_objects():
    from zoo_nerf.scenes import ProceduralScene

    scene, shape = ProceduralScene.random(3), SHAPES["scene"](3)
    assert len(shape.shape.parts) == len(scene.spheres) + len(scene.boxes)
    # the first sphere's centre, mapped into the box, is inside at its radius's depth
    centre = (scene.spheres[0, :3] - torch.tensor(shape.centre, dtype=torch.float64)) / shape.scale
    assert shape.sdf(centre[None]).item() == pytest.approx(-scene.spheres[0, 3].item() / shape.scale)


def test_the_splits_are_two_samples_of_one_surface():
    train, test = shapes(shape="sphere", num_points=300), shapes(shape="sphere", num_points=300, split="test")
    assert train.shape == (300, 6) and train.kind == "surface-points"
    assert not torch.equal(train[0], test[0])
    assert torch.allclose(test[0][:, :3].norm(dim=-1), torch.full((300,), 0.6), atol=1e-5)


# --- the loss -----------------------------------------------------------------------------------------------


class _Plane(ImplicitField):
    """Φ(x) = 2 x₀ - 0.5: a gradient (2, 0, 0) everywhere."""

    in_dim, out_dim = 3, 1

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))
            self.linear.bias.fill_(-0.5)

    def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
        return self.linear(coords)


def test_each_term_is_the_hand_computed_value():
    model = SdfFit(_Plane(), off_surface_alpha=2.0)
    surface = torch.tensor([[0.25, 0.0, 0.0], [0.5, 0.0, 0.0]])  # Φ = 0 and 0.5
    normals = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # cos(∇Φ, n) = 1 and 0
    off = torch.tensor([[0.0, 0.0, 0.0]])  # Φ = -0.5
    terms = model.terms(surface, normals, off)  # every term a mean over the 3 points, |∇Φ| = 2
    expected = {"surface": 3e3 * 0.5 / 3, "normal": 1e2 * 1 / 3, "eikonal": 5e1 * 1.0,
                "off_surface": 1e2 * math.exp(-2.0 * 0.5) / 3}
    assert {k: v.item() for k, v in terms.items()} == pytest.approx(expected)


def test_a_weight_of_zero_drops_its_term():
    model = SdfFit(_Plane(), eikonal_weight=0.0, normal_weight=0.0)
    assert set(model.terms(torch.zeros(1, 3), torch.ones(1, 3), torch.zeros(1, 3))) == {"surface", "off_surface"}


def test_the_eikonal_term_makes_the_fitted_field_a_distance():
    """With SIREN's terms the field has |∇Φ| near 1 in the box and Φ near the distance; the eikonal term is what
    does it (without it, the mean | |∇Φ| - 1 | stays near 0.7 at this budget)."""
    torch.manual_seed(0)
    points, normals = sample_oriented(Sphere(radius=0.5), 2000, generator=torch.Generator().manual_seed(0))
    cloud = torch.cat([points, normals], dim=-1)[None]
    model = SdfFit(Siren(3, 1, hidden_dim=64, num_layers=2, w0_initial=10.0, w0=10.0), points_per_step=512)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(300):
        loss = sum(model.loss(cloud).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    metrics = model.metrics(cloud)
    assert metrics["eikonal_error"] < 0.4
    probes = torch.tensor([[0.0, 0.0, 0.0], [0.8, 0.0, 0.0], [0.2, 0.2, 0.2]])
    assert torch.allclose(model.scalar_field(probes), probes.norm(dim=-1) - 0.5, atol=0.25)


# --- the point-cloud reader ------------------------------------------------------------------------------------


def _write_ply(path, vertices: dict, faces=None, text: bool = False):
    from plyfile import PlyData, PlyElement

    rows = np.empty(len(vertices["x"]), dtype=[(name, "f4") for name in vertices])
    for name, values in vertices.items():
        rows[name] = values
    elements = [PlyElement.describe(rows, "vertex")]
    if faces is not None:
        face_rows = np.empty(len(faces), dtype=[("vertex_indices", "i4", (3,))])
        face_rows["vertex_indices"] = faces
        elements.append(PlyElement.describe(face_rows, "face"))
    PlyData(elements, text=text).write(str(path))


def test_an_xyz_and_a_ply_cloud_are_read_centred_in_the_box(tmp_path):
    points, normals = sample_oriented(Sphere((0.0, 0.0, 0.0), 0.5), 200, generator=torch.Generator().manual_seed(0))
    big = points.numpy() * 10 + 3  # other units, elsewhere
    np.savetxt(tmp_path / "cloud.xyz", np.concatenate([big, normals.numpy() * 2], axis=1))
    _write_ply(tmp_path / "cloud.ply", {**dict(zip("xyz", big.T)), **dict(zip(("nx", "ny", "nz"), normals.numpy().T))})
    for name in ("cloud.xyz", "cloud.ply"):
        cloud = read_point_cloud(tmp_path / name)[0]
        assert cloud.shape == (200, 6)
        assert cloud[:, :3].abs().max() == pytest.approx(0.9, abs=1e-3)
        assert torch.allclose(cloud[:, 3:], normals, atol=1e-5)


def test_a_ply_mesh_is_sampled_with_normals_from_its_winding(tmp_path):
    vertices = np.array([[1, 1, 1], [-1, -1, 1], [-1, 1, -1], [1, -1, -1]], dtype=np.float32)  # a tetrahedron
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])  # counter-clockwise seen from outside
    _write_ply(tmp_path / "mesh.ply", dict(zip("xyz", vertices.T)), faces, text=True)
    cloud = read_point_cloud(tmp_path / "mesh.ply", num_points=300)[0]
    assert cloud.shape == (300, 6)
    assert ((cloud[:, :3] * cloud[:, 3:]).sum(-1) > 0).float().mean() > 0.9  # outward, mostly (corners blend)


BAD_FILES = {
    "words.xyz": ("hello world\n", "is not an .xyz point cloud"),
    "five.xyz": ("1 2 3 4 5\n6 7 8 9 10\n", "has 5 numbers a line, not 6"),
    "nan.xyz": ("0 0 0 nan 0 1\n1 1 1 0 0 1\n", "not finite"),
    "zero.xyz": ("0 0 0 0 0 0\n1 1 1 0 0 1\n", "normals are zero vectors"),
    "empty.xyz": ("# nothing\n", "holds no points"),
    "cloud.obj": ("v 0 0 0\n", "is read from .xyz or .ply"),
    "broken.ply": ("ply\nformat binary_little_endian 1.0\nelement vertex 9\nproperty float x\nend_header\n\x00\x01",
                   "is not a PLY file"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_point_cloud_file_is_one_error_naming_it(name, tmp_path):
    text, problem = BAD_FILES[name]
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=problem) as caught:
        read_point_cloud(tmp_path / name)
    assert name in str(caught.value)


def test_a_ply_without_normals_or_faces_says_what_it_needs(tmp_path):
    _write_ply(tmp_path / "bare.ply", dict(zip("xyz", np.eye(3, dtype=np.float32))))
    with pytest.raises(DataError, match="bare.ply has points but neither normals .* nor faces"):
        read_point_cloud(tmp_path / "bare.ply")


def test_a_ply_whose_faces_name_missing_vertices_is_refused(tmp_path):
    _write_ply(tmp_path / "holes.ply", dict(zip("xyz", np.eye(3, dtype=np.float32))), np.array([[0, 1, 7]]))
    with pytest.raises(DataError, match="holes.ply: its faces name vertices outside 0..2"):
        read_point_cloud(tmp_path / "holes.ply")


# --- zoo export ----------------------------------------------------------------------------------------------


def test_zoo_export_meshes_a_trained_run(tmp_path, capsys):
    from plyfile import PlyData

    training.train(load_recipe("sdf-fit-tiny"), tmp_path / "run", steps=2, quiet=True, pictures=False)
    assert main(["export", str(tmp_path / "run"), "--mesh", str(tmp_path / "shape.ply"), "--resolution", "20"]) == 0
    mesh = PlyData.read(str(tmp_path / "shape.ply"))
    assert mesh["vertex"].count > 0 and mesh["face"].count > 0
    assert main(["export", str(tmp_path / "run"), "--resolution", "1"]) == 2
    assert "--resolution" in capsys.readouterr().err
