"""The zuko flow families the zoo's flows are built from, by name: ``build_flow("nsf", features=64)``.

Every family is zuko's own (Rozet et al., https://github.com/probabilists/zuko): the zoo writes no bijector.
A family is a ``zuko.flows.Flow`` factory of ``features`` (the dimension of the variable) and ``context`` (the
dimension of what it is conditioned on, 0 for none); calling the built flow with a context ``(b, context)``
(or nothing) gives the distribution, a ``torch.distributions.Distribution`` with event shape ``(features,)``.
"""

from __future__ import annotations

import zuko

from zoo.errors import IncompatibleComponentsError, did_you_mean

__all__ = ["FAMILIES", "build_flow", "check_family"]

#: name -> (zuko class, paper). Coupling flows (nice, realnvp) need at least 2 features.
FAMILIES: dict[str, tuple[type[zuko.flows.Flow], str]] = {
    "nice": (zuko.flows.NICE, "Dinh et al. 2015, NICE (arXiv:1410.8516)"),
    "realnvp": (zuko.flows.RealNVP, "Dinh et al. 2017, Density estimation using Real NVP (arXiv:1605.08803)"),
    "maf": (zuko.flows.MAF, "Papamakarios et al. 2017, Masked Autoregressive Flow (arXiv:1705.07057)"),
    "nsf": (zuko.flows.NSF, "Durkan et al. 2019, Neural Spline Flows (arXiv:1906.04032)"),
    "naf": (zuko.flows.NAF, "Huang et al. 2018, Neural Autoregressive Flows (arXiv:1804.00779)"),
}
COUPLING = ("nice", "realnvp")


def check_family(family: str, features: int) -> None:
    """Raise ``IncompatibleComponentsError`` for an unknown family (with a suggestion) or one that can't transform
    ``features`` dimensions."""
    if family not in FAMILIES:
        raise IncompatibleComponentsError(f"unknown flow family {family!r}{did_you_mean(family, list(FAMILIES))} "
                                          f"(the families: {', '.join(FAMILIES)})")
    if family in COUPLING and features < 2:
        raise IncompatibleComponentsError(f"the coupling flow {family!r} splits the variable in two, so it needs at "
                                          f"least 2 dimensions, got {features}: use an autoregressive family "
                                          "(maf, nsf, naf)")


def build_flow(family: str, features: int, *, context: int = 0, transforms: int = 3, hidden_dim: int = 64,
               num_layers: int = 2) -> zuko.flows.Flow:
    """zuko's ``family`` flow over ``features`` dimensions, conditioned on ``context`` ones: ``transforms``
    transformations, each with a network of ``num_layers`` hidden layers of ``hidden_dim`` units."""
    check_family(family, features)
    flow_class, _ = FAMILIES[family]
    return flow_class(features, context, transforms=transforms, hidden_features=[hidden_dim] * num_layers)
