"""Gradient Origin Networks: models ``gon`` and ``variational-gon``, and the ``dcgan`` decoder.

Bond-Taylor & Willcocks, "Gradient Origin Networks", ICLR 2021. https://arxiv.org/abs/2007.02798
Reference code: https://github.com/cwkx/GON

- ``models.py``: ``GON`` (any Decoder as F, the latent one gradient step from the origin) and
  ``VariationalGON`` (the gradient step gives q(z|x); any Divergence as the prior term).
- ``networks.py``: ``DCGANDecoder``, the reference code's transposed-convolution F, as a Decoder.

The implicit GON is not a class: it is ``gon`` with the core's ``field`` decoder over a latent-conditioned
``siren`` (recipes ``gon-siren-digits``, ``gon-siren-faces``), so it reconstructs and samples at any
resolution (``zoo sample RUN --size 64``).
"""

from __future__ import annotations

from zoo import hookimpl

from .models import GON, GradientOrigin, VariationalGON
from .networks import DCGANDecoder

__all__ = ["GON", "DCGANDecoder", "GradientOrigin", "VariationalGON"]

PAPER = "Bond-Taylor & Willcocks 2021, Gradient Origin Networks (ICLR, arXiv:2007.02798)"


@hookimpl
def register_components(register):
    register("model", "gon", GON, paper=PAPER)
    register("model", "variational-gon", VariationalGON, paper=PAPER + " (variational GON)")
    register("decoder", "dcgan", DCGANDecoder,
             paper="Radford et al. 2016, DCGAN (arXiv:1511.06434): the generator of GON's reference code")
