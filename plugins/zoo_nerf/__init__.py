"""NeRF: representing scenes as neural radiance fields for view synthesis.

Mildenhall, Srinivasan, Tancik, Barron, Ramamoorthi, Ng. "NeRF: Representing Scenes as Neural Radiance
Fields for View Synthesis", ECCV 2020. https://arxiv.org/abs/2003.08934
Reference code: https://github.com/bmild/nerf (and yenchenlin/nerf-pytorch)
"""
