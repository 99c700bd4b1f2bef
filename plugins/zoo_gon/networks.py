"""DCGAN's generator as a ``Decoder`` (``dcgan``): the network of GON's reference code, for any likelihood.

z ``(b, d)`` is read as a ``d``-channel 1x1 map; a 4x4 transposed convolution makes it 4x4, then 4x4
stride-2 transposed convolutions double the size up to the image's, halving the width each time (the
last hidden layer has ``width`` channels); a norm and an activation follow every hidden layer. For
32x32 images that is the reference GON's four layers with ngf = ``width``: widths 4w, 2w, w, then the
image (Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional GANs",
arXiv:1511.06434; Bond-Taylor & Willcocks 2021, https://github.com/cwkx/GON).

``norm="batch"`` is BatchNorm *without running statistics*: it normalises with the statistics of the
batch at hand in training and in evaluation alike. The reference code's BatchNorm kept running
statistics, and a GON's latent (a gradient through the decoder) computed with them in eval mode is not
the latent it was trained with: its test loss is 30x worse in eval mode (benchmarks/RESULTS.md). The
price: an example's output depends on the rest of its batch. ``norm="layer"`` normalises each example on
its own (GroupNorm with one group), so batches don't interact.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn
from torch.distributions import Distribution

from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import Decoder, Likelihood
from zoo.recipes import PositiveInt

__all__ = ["ACTIVATIONS", "NORMS", "DCGANDecoder"]

NORMS = {
    "batch": lambda channels: nn.BatchNorm2d(channels, track_running_stats=False),
    "layer": lambda channels: nn.GroupNorm(1, channels),
    "none": lambda channels: nn.Identity(),
}
ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "silu": nn.SiLU}


def _doublings(shape: tuple[int, ...]) -> int:
    """k for square images of 4 * 2**k pixels (k >= 1), else an error saying which sizes work."""
    if len(shape) == 3 and shape[1] == shape[2] and shape[1] >= 8:
        k = (shape[1] // 4).bit_length() - 1
        if 4 * 2**k == shape[1]:
            return k
    raise IncompatibleComponentsError(
        f"the dcgan decoder makes square images (c, s, s) with s = 8, 16, 32, 64, ... (4 * 2^k), got shape "
        f"{tuple(shape)}; resize the data (e.g. data.size=32) or use the conv decoder, which takes any size"
    )


class DCGANDecoder(Decoder):
    """Transposed 4x4 convolutions from a 1x1 map of z to the image: DCGAN's generator, GON's reference F.

    ``width`` is the last hidden layer's channels (the reference's ngf); ``norm`` is ``"batch"`` (batch
    statistics always, no running ones), ``"layer"`` (per example) or ``"none"``; ``activation`` is
    ``"elu"``, ``"relu"`` or ``"silu"``. The last layer emits ``likelihood.num_params(c)`` maps.
    """

    def __init__(
        self,
        shape: tuple[PositiveInt, ...],
        latent_dim: PositiveInt,
        likelihood: Likelihood,
        *,
        width: PositiveInt = 16,
        norm: str = "batch",
        activation: str = "elu",
    ):
        super().__init__()
        if norm not in NORMS or activation not in ACTIVATIONS:
            raise ValueError(
                f"norm must be one of {', '.join(NORMS)} and activation one of {', '.join(ACTIVATIONS)}; "
                f"got norm={norm!r}, activation={activation!r}"
            )
        k = _doublings(tuple(shape))
        self.shape, self.latent_dim, self.likelihood = tuple(shape), latent_dim, likelihood
        widths = [width * 2 ** (k - 1 - i) for i in range(k)]  # 4w, 2w, w for 32x32
        layers: list[nn.Module] = []
        for i, (width_in, width_out) in enumerate(zip((latent_dim, *widths[:-1]), widths)):
            # the first layer: 1x1 -> 4x4 (kernel 4, stride 1); the others double the size
            stride, padding = (1, 0) if i == 0 else (2, 1)
            layers += [
                nn.ConvTranspose2d(width_in, width_out, 4, stride, padding),
                NORMS[norm](width_out),
                ACTIVATIONS[activation](),
            ]
        layers.append(nn.ConvTranspose2d(widths[-1], likelihood.num_params(shape[0]), 4, 2, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Distribution:
        """``(b, latent_dim)`` -> p(x|z), batch ``(b,)``, event ``(c, s, s)``."""
        return self.likelihood(self.net(rearrange(z, "b d -> b d 1 1")))
