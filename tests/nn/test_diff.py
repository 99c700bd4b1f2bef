"""zoo.nn.diff against analytic fields: f = sin(ax)·cos(by) has a closed-form gradient and Laplacian."""

import pytest
import torch

from zoo.nn.diff import divergence, gradient, jacobian, laplacian

A, B = 3.0, 2.0


def analytic(xy):
    """f(x, y) = sin(ax) cos(by), with ∇f and Δf = -(a² + b²) f by hand."""
    x, y = xy[..., 0], xy[..., 1]
    f = torch.sin(A * x) * torch.cos(B * y)
    dfdx = A * torch.cos(A * x) * torch.cos(B * y)
    dfdy = -B * torch.sin(A * x) * torch.sin(B * y)
    grad = torch.stack([dfdx, dfdy], -1)
    return f[..., None], grad, -(A**2 + B**2) * f[..., None]


@pytest.fixture
def coords():
    torch.manual_seed(0)
    return (torch.rand(3, 50, 2, dtype=torch.float64) * 2 - 1).requires_grad_()


def test_gradient_and_laplacian_match_closed_form(coords):
    f, grad, lap = analytic(coords)
    torch.testing.assert_close(gradient(f, coords), grad.detach())
    torch.testing.assert_close(laplacian(f, coords), lap.detach())


def test_divergence_of_a_polynomial_field(coords):
    x, y = coords[..., 0], coords[..., 1]
    v = torch.stack([x**2 * y, x * y**3], -1)  # ∇·v = 2xy + 3xy²
    torch.testing.assert_close(divergence(v, coords), (2 * x * y + 3 * x * y**2)[..., None].detach())


def test_jacobian_of_a_linear_map_is_its_matrix(coords):
    M = torch.tensor([[1.0, 2.0], [-3.0, 0.5], [0.0, 4.0]], dtype=torch.float64)
    J = jacobian(coords @ M.T, coords)
    assert J.shape == (3, 50, 3, 2)
    torch.testing.assert_close(J, M.expand(3, 50, 3, 2))


def test_laplacian_of_several_channels(coords):
    f, _, lap = analytic(coords)
    two = torch.cat([f, 5 * coords[..., :1] ** 2], -1)  # Δ(5x²) = 10
    expected = torch.cat([lap, torch.full_like(lap, 10.0)], -1)
    torch.testing.assert_close(laplacian(two, coords), expected.detach())


def test_operators_can_be_trained_through():
    """create_graph: d/da of Σ Δf equals the closed form d/da [-(a² + b²) Σ f]."""
    torch.manual_seed(0)
    a = torch.tensor(A, dtype=torch.float64, requires_grad=True)
    xy = (torch.rand(40, 2, dtype=torch.float64) * 2 - 1).requires_grad_()
    f = (torch.sin(a * xy[:, 0]) * torch.cos(B * xy[:, 1]))[:, None]
    (got,) = torch.autograd.grad(laplacian(f, xy).sum(), a)
    x, y = xy[:, 0].detach(), xy[:, 1].detach()
    s, c, cy = torch.sin(A * x), torch.cos(A * x), torch.cos(B * y)
    expected = (-2 * A * s * cy - (A**2 + B**2) * x * c * cy).sum()
    torch.testing.assert_close(got, expected)


def test_siren_gradient_matches_finite_differences():
    """On a real field (a small SIREN), autograd's gradient agrees with central differences."""
    from zoo_siren.fields import Siren

    torch.manual_seed(0)
    field = Siren(2, 1, hidden_dim=32, num_layers=3).double()
    xy = (torch.rand(20, 2, dtype=torch.float64) * 2 - 1).requires_grad_()
    got = gradient(field(xy), xy)
    h = 1e-6
    for k in range(2):
        step = torch.zeros(2, dtype=torch.float64)
        step[k] = h
        numeric = (field(xy + step) - field(xy - step))[:, 0] / (2 * h)
        torch.testing.assert_close(got[:, k], numeric.detach(), rtol=1e-5, atol=1e-5)


def test_errors_say_what_to_do():
    xy = torch.rand(4, 2)
    with pytest.raises(ValueError, match="requires_grad_"):
        gradient(xy.sum(-1, keepdim=True), xy)
    xy.requires_grad_()
    with pytest.raises(ValueError, match="jacobian"):
        gradient(xy * 2, xy)
    with pytest.raises(ValueError, match="as many components"):
        divergence(torch.cat([xy, xy], -1), xy)
    with pytest.raises(ValueError, match="leading"):
        gradient(xy.sum(), xy)
