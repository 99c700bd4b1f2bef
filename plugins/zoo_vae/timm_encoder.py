"""Any timm backbone as a VAE encoder: pooled features -> a linear posterior head.

``timm.create_model(backbone, num_classes=0, in_chans=c, pretrained=False)`` gives the pooled feature
vector of any of timm's image models; one linear layer turns it into q(z|x). timm is imported when an
encoder is built, so ``zoo list`` stays cheap. Convolutional backbones take any input size; a model that
timm builds for one input size (ViTs, Swin, MLP-Mixer: its ``fixed_input_size``) is built for the data's,
``img_size=(h, w)``, so ``vit_tiny_patch16_224`` encodes 25x25 faces.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.distributions import Distribution

from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import Encoder
from zoo.recipes import PositiveInt

from .networks import check_input, head_dim, posterior

__all__ = ["TimmEncoder"]


class TimmEncoder(Encoder):
    """Any timm backbone (pooled features, not pretrained by default) + a linear posterior head.

    Built with ``timm.create_model(backbone, num_classes=0, in_chans=c, pretrained=pretrained)``, and
    ``img_size=(h, w)`` for a backbone of a fixed input size.

    ``shape`` is ``(c, h, w)``; ``pretrained=True`` loads timm's weights (downloads them unless cached).
    """

    def __init__(
        self,
        shape: tuple[PositiveInt, ...],
        latent_dim: PositiveInt,
        *,
        backbone: str = "resnet10t",
        pretrained: bool = False,
        deterministic: bool = False,
    ):
        super().__init__()
        import timm

        if len(shape) != 3:
            raise IncompatibleComponentsError(
                f"a timm backbone takes images (c, h, w), got shape {tuple(shape)}"
            )
        if not timm.is_model(backbone):
            close = timm.list_models(f"*{backbone}*")[:5]
            hint = f" — similar: {', '.join(close)}" if close else ""
            raise ValueError(f"unknown timm backbone {backbone!r}{hint}; see timm.list_models()")
        self.shape, self.latent_dim, self.deterministic = tuple(shape), latent_dim, deterministic
        config = timm.models.get_pretrained_cfg(backbone)
        sized = {"img_size": tuple(shape[1:])} if config is not None and config.fixed_input_size else {}
        self.backbone = timm.create_model(backbone, num_classes=0, in_chans=shape[0], pretrained=pretrained, **sized)
        self.head = nn.Linear(self.backbone.num_features, head_dim(latent_dim, deterministic))

    def forward(self, x: Tensor) -> Distribution:
        """``(b, c, h, w)`` -> q(z|x), batch ``(b,)``, event ``(latent_dim,)``."""
        check_input(x, self.shape, "the timm encoder")
        return posterior(self.head(self.backbone(x)), self.deterministic)
