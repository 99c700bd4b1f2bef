"""zoo.decoders' checks of any decoder: the data shape it decodes, and batches of that shape."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Independent, Normal

from zoo.decoders import check_batch, decoded_shape
from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import Decoder


class GridDecoder(Decoder):
    """p(x|z) over ``shape``, the mean a constant map of z's first entry; ``batch`` breaks the batch shape."""

    def __init__(self, shape=(1, 3, 5), *, batch: bool = True):
        super().__init__()
        self.latent_dim, self.shape, self.batch = 4, shape, batch
        self.norm = torch.nn.BatchNorm1d(4)

    def forward(self, z):
        z = self.norm(z)
        loc = z[:, :1, None, None].expand(-1, *self.shape)
        px = Independent(Normal(loc, 1.0), len(self.shape))
        return px if self.batch else Independent(Normal(loc, 1.0), len(self.shape) - 1)


def test_decoded_shape_is_the_event_shape_read_in_eval_mode_and_the_mode_is_restored():
    decoder = GridDecoder().train()
    assert decoded_shape(decoder) == (1, 3, 5)
    assert decoder.training  # its mode is back, and the probe's zero latents left no running statistics
    assert decoder.norm.num_batches_tracked.item() == 0
    with pytest.raises(IncompatibleComponentsError, match=r"batch shape \(2, 1\) for 2 latents"):
        decoded_shape(GridDecoder(batch=False))
    with pytest.raises(IncompatibleComponentsError, match=r"failed to decode latents of shape \(2, 4\)"):
        decoded_shape(GridDecoder(shape=(1, -2, 5)))


def test_check_batch_passes_the_data_shape_and_names_both_shapes_otherwise():
    x = torch.zeros(8, 1, 3, 5)
    assert check_batch(x, (1, 3, 5), model="vae") is x
    with pytest.raises(IncompatibleComponentsError, match=r"the vae's decoder produces data of shape \(1, 3, 5\) "
                       r"but the batch is \(8, 1, 5, 3\); build the encoder and decoder with shape \[1, 5, 3\]"):
        check_batch(torch.zeros(8, 1, 5, 3), (1, 3, 5), model="vae", components="encoder and decoder")
    with pytest.raises(IncompatibleComponentsError, match=r"the gon takes a tensor batch \(b, 1, 3, 5\), got dict"):
        check_batch({"image": x}, (1, 3, 5), model="gon")
