"""Block layouts: the compact strings that say how deep a VDVAE is at each resolution, parsed and checked.

A layout is a comma-separated list of items, each naming a resolution (the side of a square feature map):

- ``R``: one block at resolution R; ``RxN``: N blocks at R (``32x4``);
- encoder only, ``RdK``: one block at R, then average-pool by K to resolution R / K (``32d2``);
- decoder only, ``RmF``: one block at R that first adds the state at the coarser resolution F, up-sampled
  (``16m8``): how the top-down path climbs from one resolution to the next.

The reference's CIFAR-10 model reads ``32x11,32d2,16x6,16d2,8x6,8d2,4x3,4d4,1x3`` bottom-up and
``1x1,4m1,4x2,8m4,8x5,16m8,16x10,32m16,32x21`` top-down. ``check_layouts`` refuses, before anything is built,
a pair that can't run on images of a given size, and says which item to change.

Sizes are checked before anything is allocated: ``parse_layout`` counts an item's blocks before expanding
them (at most ``MAX_BLOCKS`` in a layout; the paper's deepest model has about a hundred), and
``check_memory`` compares the parameters a model of these layouts would have (``parameter_count``, from
blocks built on the meta device, which allocates nothing) with the machine's memory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
from torch import nn

from zoo.errors import IncompatibleComponentsError

from .blocks import Bottleneck, TopDownBlock

__all__ = ["MAX_BLOCKS", "LayoutBlock", "check_layouts", "check_memory", "parameter_count", "parse_layout"]

MAX_BLOCKS = 10_000
BYTES_PER_PARAMETER = 16  # training in float32: the weights, their gradients and Adam's two moments

_ITEM = re.compile(r"(\d+)(?:([xdm])(\d+))?")
_FORMS = {
    "encoder": "RES (one block), RESxN (N blocks) or RESdK (one block, then down-sample by K)",
    "decoder": "RES (one block), RESxN (N blocks) or RESmFROM (one block that mixes in resolution FROM, up-sampled)",
}
_EXAMPLES = {"encoder": "'8x2,8d2,4x2,4d4,1x2'", "decoder": "'1x2,4m1,4x2,8m4,8x2'"}


@dataclass(frozen=True)
class LayoutBlock:
    """One block: its resolution, and (encoder) the factor it down-samples by or (decoder) the coarser
    resolution it mixes in; ``item`` is the text it came from, for error messages."""

    resolution: int
    down: int | None = None
    mixin: int | None = None
    item: str = ""


def parse_layout(text: str, role: str) -> list[LayoutBlock]:
    """A layout string -> its blocks in order, ``RxN`` expanded to N blocks. ``role``: "encoder" or "decoder".

    Raises ``ValueError`` naming the item that can't be read and the forms that can.
    """
    if role not in _FORMS:
        raise ValueError(f"role must be 'encoder' or 'decoder', got {role!r}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"the {role} layout is empty: write it as {_FORMS[role]}, e.g. {_EXAMPLES[role]}")
    blocks: list[LayoutBlock] = []
    for position, item in enumerate(text.split(","), start=1):
        item = item.strip()
        where = f"item {position} ({item!r}) of the {role} layout {text!r}"
        match = _ITEM.fullmatch(item)
        if not match:
            raise ValueError(f"can't read {where}: write each item as {_FORMS[role]}, e.g. {_EXAMPLES[role]}")
        resolution, op, number = int(match[1]), match[2], int(match[3] or 0)
        if resolution < 1:
            raise ValueError(f"{where}: a resolution must be at least 1")
        if op == "x":
            if number < 1:
                raise ValueError(f"{where}: a block count must be at least 1")
            if len(blocks) + number > MAX_BLOCKS:
                raise ValueError(f"{where} makes the {role} {len(blocks) + number:,} blocks deep, more than the "
                                 f"{MAX_BLOCKS:,} a layout may have (the paper's deepest has about a hundred): "
                                 f"lower its block count")
            blocks += [LayoutBlock(resolution, item=item)] * number
        elif op == "d":
            if role == "decoder":
                raise ValueError(f"{where}: 'd' down-samples, which only the encoder does; the decoder climbs "
                                 f"to finer resolutions with RESmFROM, e.g. '8m4'")
            if number < 2:
                raise ValueError(f"{where}: a down-sampling factor must be at least 2")
            blocks.append(LayoutBlock(resolution, down=number, item=item))
        elif op == "m":
            if role == "encoder":
                raise ValueError(f"{where}: 'm' mixes in a coarser resolution, which only the decoder does; "
                                 f"the encoder down-samples with RESdK, e.g. '8d2'")
            blocks.append(LayoutBlock(resolution, mixin=number, item=item))
        else:
            blocks.append(LayoutBlock(resolution, item=item))
        if len(blocks) > MAX_BLOCKS:
            raise ValueError(f"the {role} layout {text!r} has more than the {MAX_BLOCKS:,} blocks a layout may have")
    return blocks


def check_layouts(encoder: list[LayoutBlock], decoder: list[LayoutBlock], size: int) -> list[int]:
    """Check that the two layouts fit each other and images of ``size`` x ``size``; returns the resolutions
    the encoder leaves activations at (finest first). Raises ``IncompatibleComponentsError``."""
    resolution, visited = size, [size]
    for index, block in enumerate(encoder):
        if block.resolution != resolution:
            hint = (f"start the encoder layout at {size}" if index == 0 else
                    f"down-sample to it first (e.g. '{resolution}d{resolution // block.resolution}')"
                    if block.resolution < resolution and resolution % block.resolution == 0 else
                    f"make it {resolution}")
            raise IncompatibleComponentsError(
                f"encoder block {block.item!r} is at resolution {block.resolution}, but the encoder is at "
                f"resolution {resolution} there (images are {size}x{size}): {hint}")
        if block.down is not None:
            if resolution % block.down:
                raise IncompatibleComponentsError(
                    f"encoder block {block.item!r} down-samples resolution {resolution} by {block.down}, which "
                    f"does not divide it: pick a factor of {resolution}")
            resolution //= block.down
            visited.append(resolution)

    seen: list[int] = []
    for block in decoder:
        if block.resolution not in visited:
            raise IncompatibleComponentsError(
                f"decoder block {block.item!r} is at resolution {block.resolution}, where the encoder leaves no "
                f"activations (it visits {', '.join(map(str, visited))}): use one of those resolutions")
        if block.mixin is not None:
            if block.mixin not in seen:
                raise IncompatibleComponentsError(
                    f"decoder block {block.item!r} mixes in resolution {block.mixin}, which no earlier decoder "
                    f"block reaches: put blocks at {block.mixin} before it")
            if block.mixin >= block.resolution or block.resolution % block.mixin:
                raise IncompatibleComponentsError(
                    f"decoder block {block.item!r} up-samples resolution {block.mixin} to {block.resolution}: the "
                    f"coarser resolution must divide the finer one")
        elif seen and block.resolution not in seen:
            raise IncompatibleComponentsError(
                f"decoder block {block.item!r} starts resolution {block.resolution} without mixing in the "
                f"coarser state, so the blocks before it would not reach the image: begin resolution "
                f"{block.resolution} with '{block.resolution}m{seen[-1]}'")
        if block.resolution not in seen:
            seen.append(block.resolution)
    if decoder and decoder[-1].resolution != size:
        raise IncompatibleComponentsError(
            f"the decoder layout ends at resolution {decoder[-1].resolution} but the images are {size}x{size}: end "
            f"it with blocks at {size} (e.g. '{size}m{decoder[-1].resolution},{size}x2')")
    return visited


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_count(encoder: list[LayoutBlock], decoder: list[LayoutBlock], *, channels: int, width: int,
                    latent_channels: int, bottleneck: float, out_channels: int) -> int:
    """The parameters of a VDVAE with these layouts, from one block of each kind and resolution built on the
    meta device (nothing is allocated); ``out_channels``: the likelihood's parameters for ``channels``."""
    middle = max(1, int(width * bottleneck))
    with torch.device("meta"):
        encoder_block = {r: _numel(Bottleneck(width, middle, width, resolution=r, residual=True))
                         for r in {b.resolution for b in encoder}}
        decoder_block = {r: _numel(TopDownBlock(width, latent_channels, resolution=r, depth=1, bottleneck=bottleneck))
                         for r in {b.resolution for b in decoder}}
        ends = _numel(nn.Conv2d(channels, width, 3)) + _numel(nn.Conv2d(width, out_channels, 1)) + 2 * width
    initial_states = sum(width * r * r for r in decoder_block)
    return (sum(encoder_block[b.resolution] for b in encoder) + sum(decoder_block[b.resolution] for b in decoder)
            + initial_states + ends)


def _physical_memory() -> int | None:
    """This machine's memory in bytes, where the OS says (Linux, macOS); None elsewhere."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(parameters: int, settings: str, memory: int | None = None) -> None:
    """Refuse a model of ``parameters`` whose training state would not fit in ``memory`` bytes (this machine's
    by default), naming ``settings``, what to lower. Raises ``IncompatibleComponentsError``."""
    memory = _physical_memory() if memory is None else memory
    needed = BYTES_PER_PARAMETER * parameters
    if memory is not None and needed > memory:
        raise IncompatibleComponentsError(
            f"this vdvae would have {parameters:,} parameters; training them takes about {BYTES_PER_PARAMETER} "
            f"bytes each (weights, gradients, Adam's two moments): {needed / 2**30:,.1f} GiB, more than this "
            f"machine's {memory / 2**30:,.1f} GiB of memory: lower {settings}")
