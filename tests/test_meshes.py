"""zoo.meshes and the geometry metrics: marching cubes of exact fields, PLY files, pictures, Chamfer distances."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from zoo import meshes
from zoo.interfaces import ScalarVolume
from zoo.metrics import chamfer_distance, nearest_neighbours, normal_consistency

RADIUS = 0.6


class _Ball(ScalarVolume):
    """A ball as a signed distance (solid below 0) or, ``solid_above``, as a density falling off outwards."""

    volume_bounds = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))

    def __init__(self, solid_above: bool = False):
        self.solid_above = solid_above
        self.surface_level = 1.0 if solid_above else 0.0

    def scalar_field(self, points: Tensor) -> Tensor:
        distance = points.norm(dim=-1) - RADIUS
        return torch.exp(-distance) if self.solid_above else distance


@pytest.mark.parametrize("solid_above", [False, True], ids=["distance", "density"])
def test_marching_cubes_of_a_ball_lies_within_a_voxel_with_outward_normals(solid_above):
    resolution = 24
    mesh = meshes.extract_mesh(_Ball(solid_above), resolution)
    voxel = 2 / (resolution - 1)
    assert (mesh.vertices.norm(dim=-1) - RADIUS).abs().max() < voxel
    outward = mesh.vertices / mesh.vertices.norm(dim=-1, keepdim=True)
    assert (mesh.normals * outward).sum(-1).min() > 0.9
    corners = mesh.vertices[mesh.faces]
    winding = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert ((winding * corners.mean(1)).sum(-1) > 0).all()  # counter-clockwise seen from outside


def test_a_level_outside_the_fields_values_is_one_error():
    values = r"the field takes values in \[-0.35\d*, 1.13\d*\]"
    with pytest.raises(meshes.NoSurface, match=rf"no surface at level 5: .* {values}"):
        meshes.extract_mesh(_Ball(), 8, level=5.0)


def test_surface_samples_are_on_the_mesh_uniformly_by_area():
    mesh = meshes.extract_mesh(_Ball(), 32)
    points, normals = meshes.sample_surface(mesh, 4000, generator=torch.Generator().manual_seed(0))
    assert (points.norm(dim=-1) - RADIUS).abs().max() < 2 / 31
    assert torch.allclose(normals.norm(dim=-1), torch.ones(4000), atol=1e-5)
    # uniform by area: as many points on each half of the sphere, within sampling noise (sd 32)
    assert abs(int((points[:, 0] > 0).sum()) - 2000) < 130


def test_the_ply_round_trips_through_a_reader(tmp_path):
    from plyfile import PlyData

    mesh = meshes.extract_mesh(_Ball(), 12)
    path = meshes.write_ply(mesh, tmp_path / "ball.ply")
    ply = PlyData.read(str(path))
    vertex = ply["vertex"]
    read = torch.tensor([[vertex[a][i] for a in ("x", "y", "z", "nx", "ny", "nz")] for i in range(vertex.count)])
    assert torch.allclose(read, torch.cat([mesh.vertices, mesh.normals], dim=-1))
    faces = torch.tensor([list(f) for f in ply["face"]["vertex_indices"]])
    assert torch.equal(faces, mesh.faces)
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_a_picture_shows_the_balls_disc_in_every_view():
    mesh = meshes.extract_mesh(_Ball(), 32)
    pictures = meshes.render_mesh(mesh, size=64, views=3)
    assert pictures.shape == (3, 3, 64, 64)
    covered = (pictures < meshes.BACKGROUND).any(1).float().mean((1, 2))  # (views,)
    # the mesh's bounding box is framed with its half-diagonal, √3 r, and 5 % more
    expected = math.pi / 4 / (1.05 * math.sqrt(3)) ** 2
    assert torch.allclose(covered, torch.full((3,), expected), rtol=0.05)
    assert pictures[:, :, 32, 32].min() > 0.5  # the middle faces the light: lit


def _brute_nearest(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    distances = torch.cdist(a.double(), b.double(), compute_mode="donot_use_mm_for_euclid_dist").min(dim=1)
    return distances.values.float(), distances.indices


def test_nearest_neighbours_are_the_brute_force_ones():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(50, 3, generator=generator), torch.rand(70, 3, generator=generator)
    distances, indices = nearest_neighbours(a, b)
    brute, brute_indices = _brute_nearest(a, b)
    assert torch.allclose(distances, brute, atol=1e-6) and torch.equal(indices, brute_indices)
    capped, index = nearest_neighbours(a, b, max_distance=0.05)
    far = brute > 0.05
    assert far.any() and not far.all()
    assert torch.equal(index[far], torch.full_like(index[far], -1)) and torch.equal(index[~far], brute_indices[~far])
    assert torch.allclose(capped, brute.clamp(max=0.05), atol=1e-6)


def test_chamfer_and_normal_consistency_are_the_brute_force_means():
    generator = torch.Generator().manual_seed(1)
    a, b = torch.rand(40, 3, generator=generator), torch.rand(60, 3, generator=generator)
    na, nb = (torch.nn.functional.normalize(torch.randn(n, 3, generator=generator), dim=-1) for n in (40, 60))
    (ab, ab_index), (ba, ba_index) = _brute_nearest(a, b), _brute_nearest(b, a)
    assert chamfer_distance(a, b).item() == pytest.approx(((ab.mean() + ba.mean()) / 2).item())
    cosines = ((na * nb[ab_index]).sum(-1).mean() + (nb * na[ba_index]).sum(-1).mean()) / 2
    assert normal_consistency(a, na, b, nb).item() == pytest.approx(cosines.item())
    assert chamfer_distance(a, a).item() == 0 and normal_consistency(a, na, a, -na).item() == pytest.approx(-1)
    # a short search radius changes nothing while the far points are all searched, and estimates them otherwise
    exact = {"search_radius": 0.05, "far_sample": 60}
    assert chamfer_distance(a, b, **exact).item() == pytest.approx(chamfer_distance(a, b).item())
    assert normal_consistency(a, na, b, nb, **exact).item() == pytest.approx(cosines.item())
    estimates = [chamfer_distance(a, b, search_radius=0.05, far_sample=10, generator=torch.Generator().manual_seed(i))
                 for i in range(200)]
    assert torch.stack(estimates).mean().item() == pytest.approx(chamfer_distance(a, b).item(), rel=0.02)
