"""Autoencoders and variational autoencoders: models ``ae`` and ``vae``, and encoders/decoders to mix.

The lecture's second section as a plugin: the plain autoencoder and why it cannot sample, the VAE with
the reparameterisation trick and the ELBO (Kingma & Welling 2014, "Auto-Encoding Variational Bayes",
arXiv:1312.6114), evaluated by the importance-weighted bound (Burda et al. 2016, arXiv:1509.00519).

- ``models.py``: ``VAE`` (any Encoder x any Decoder x any Divergence as the prior term) and ``AE``.
- ``networks.py``: MLP and convolutional encoders (``mlp``, ``conv``) and decoders (``mlp``, ``conv``).
- ``timm_encoder.py``: any timm backbone as an encoder (``timm``).

Decoders from other places fit too: the core's ``field`` decoder puts an implicit field (SIREN) in a VAE.
"""

from __future__ import annotations

from zoo import hookimpl

from .models import AE, VAE
from .networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from .timm_encoder import TimmEncoder

__all__ = ["AE", "VAE", "ConvDecoder", "ConvEncoder", "MLPDecoder", "MLPEncoder", "TimmEncoder"]

KINGMA = "Kingma & Welling 2014, Auto-Encoding Variational Bayes (arXiv:1312.6114)"


@hookimpl
def register_components(register):
    register("model", "vae", VAE, paper=KINGMA)
    register(
        "model",
        "ae",
        AE,
        paper="Hinton & Salakhutdinov 2006; Ghosh et al. 2020 (ex-post prior, arXiv:1903.12436)",
    )
    register("encoder", "mlp", MLPEncoder)
    register("encoder", "conv", ConvEncoder)
    register("encoder", "timm", TimmEncoder, paper="Wightman 2019, PyTorch Image Models (timm)")
    register("decoder", "mlp", MLPDecoder)
    register("decoder", "conv", ConvDecoder)
