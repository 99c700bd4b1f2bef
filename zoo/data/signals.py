"""Single signals for implicit networks to fit: a picture (scikit-image's bundled images), a sound or a video.

Each dataset has length 1 and its item is the whole signal: an image ``(c, h, w)`` in [0, 1], audio
``(1, n)`` in [-1, 1] (with ``sample_rate``) or a video ``(c, t, h, w)`` in [0, 1] (its frame rate as
``sample_rate``). Fitting one signal has no held-out part, so ``split="test"``
returns the same signal (evaluate the fit, e.g. at another resolution). ``camera`` and ``astronaut`` are
``image`` with its ``name`` bound, not separate code.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from zoo.data.core import DataError, DataNotFoundError, SignalDataset, center_square, check_split, declare_facts
from zoo.arguments import PositiveInt

__all__ = ["CLIP", "PICTURES", "SAMPLE_RATE", "VIDEO_SUFFIXES", "astronaut", "audio", "camera", "image",
           "synthetic_audio", "video"]

#: scikit-image's bundled 2-D pictures that load without a network (``skimage.data.<name>()``).
PICTURES = (
    "astronaut", "brick", "camera", "cat", "cell", "checkerboard", "chelsea", "clock", "coffee", "coins",
    "colorwheel", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo",
    "microaneurysms", "moon", "page", "retina", "rocket", "shepp_logan_phantom", "text",
)  # fmt: skip

#: Sample rate (Hz) of the embedded synthetic sound.
SAMPLE_RATE = 16_000


def _picture(name: str) -> tuple[np.ndarray, int | None]:
    """``skimage.data.<name>()`` as float ``(h, w)`` or ``(h, w, 3)`` in [0, 1] (alpha blended onto white), and
    its levels: 256 for an 8-bit picture, None where the values are continuous (blended, or not 8-bit)."""
    import skimage.data
    from skimage.color import rgba2rgb
    from skimage.util import img_as_float

    if name not in PICTURES:
        close = difflib.get_close_matches(name, PICTURES, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise DataError(f"unknown image {name!r}{hint} scikit-image bundles: {', '.join(PICTURES)}")
    try:
        raw = getattr(skimage.data, name)()
    except Exception as error:  # a scikit-image version that moved or dropped the picture
        raise DataError(f"could not load skimage.data.{name}(): {type(error).__name__}: {error}") from error
    pixels, levels = img_as_float(raw), 256 if raw.dtype == np.uint8 else None
    if pixels.ndim == 3 and pixels.shape[-1] == 4:
        return rgba2rgb(pixels), None
    return pixels, levels


@declare_facts(lambda **_: {"kind": "signals"})  # the shape and levels are the picture's: read when it loads
def image(
    *,
    root: str | None = None,
    split: str = "train",
    name: str = "camera",
    size: PositiveInt | None = None,
    grey: bool = False,
) -> SignalDataset:
    """A scikit-image picture as one signal to fit: item (c, h, w) in [0, 1].

    ``name`` is any of `PICTURES`; colour pictures have 3 channels unless ``grey`` (luminance, 1 channel).
    ``size`` crops the central square and resizes it to ``size`` x ``size`` (antialiased bilinear);
    ``None`` keeps the picture as it is. An 8-bit picture kept as it is has 256 levels; converted or
    resized its values are continuous. ``root`` is unused.
    """
    from skimage.color import rgb2gray

    check_split(split, "image")
    pixels, levels = _picture(name)
    if grey and pixels.ndim == 3:
        pixels, levels = rgb2gray(pixels), None
    x = torch.from_numpy(np.ascontiguousarray(pixels)).float()
    x = rearrange(x, "h w -> 1 h w") if x.dim() == 2 else rearrange(x, "h w c -> c h w")
    if size is not None:
        x, levels = center_square(x[None], size)[0], None
    return SignalDataset(x, levels=levels)


def _with_defaults(factory: Callable, summary: str, **defaults) -> Callable:
    """``factory`` with some keyword defaults changed: the same code under another registry name.

    Unlike ``functools.partial`` the result has a docstring, a signature showing the new defaults and
    ``__annotations__``, so summaries and recipe validation see it as an ordinary factory.
    """
    signature = inspect.signature(factory, eval_str=True)
    parameters = [
        p.replace(default=defaults[p.name]) if p.name in defaults else p
        for p in signature.parameters.values()
    ]

    def bound(**options):
        return factory(**{**defaults, **options})

    def facts(**options):
        return factory.facts(**{**defaults, **options})

    bound.__signature__ = signature.replace(parameters=parameters)
    bound.__annotations__ = dict(factory.__annotations__)
    bound.__doc__ = f"{summary}\n\n``{factory.__name__}`` with {defaults} as defaults."
    bound.__wrapped__ = factory
    bound.facts = facts
    return bound


camera = _with_defaults(
    image, "The cameraman (512 x 512, grey) as one signal to fit: item (1, h, w).", name="camera"
)
astronaut = _with_defaults(
    image,
    "The astronaut (512 x 512, RGB) as one signal to fit: item (3, h, w).",
    name="astronaut",
)


def synthetic_audio(seconds: float = 3.0, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """A deterministic test sound ``(n,)`` in [-1, 1]: a rising chirp over a chord with a tremolo.

    A linear chirp 110 Hz -> 1760 Hz (four octaves) plus 220 Hz with its 2nd and 3rd harmonics under a
    4 Hz amplitude tremolo, scaled to a peak of 0.9. Both fine (chirp) and periodic (harmonics) structure,
    which is what audio fitting with implicit networks is about.
    """
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    f0, f1 = 110.0, 1760.0
    chirp = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds)))
    chord = sum(np.sin(2 * np.pi * 220.0 * k * t) / k for k in (1, 2, 3))
    tremolo = 0.75 + 0.25 * np.sin(2 * np.pi * 4.0 * t)
    sound = 0.5 * chirp + 0.5 * tremolo * chord
    return torch.from_numpy(0.9 * sound / np.abs(sound).max()).float()


def _read_wav(path: Path) -> tuple[torch.Tensor, int]:
    """A WAV file -> mono samples ``(n,)`` in [-1, 1] and the sample rate (Hz)."""
    from scipy.io import wavfile

    if not path.is_file():
        raise DataNotFoundError(
            f"audio file {path} not found: expected a WAV file; set it with --set data.path=FILE "
            f"(or leave data.path unset for the embedded synthetic sound)"
        )
    try:
        rate, samples = wavfile.read(path)
    except Exception as error:  # ValueError for a non-RIFF/unsupported file, EOFError for a truncated one
        raise DataError(f"corrupt or unsupported WAV file {path}: {type(error).__name__}: {error}") from error
    if samples.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        x = (samples.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(samples.dtype, np.integer):  # 16/24/32-bit signed (scipy left-justifies 24 in 32)
        x = samples.astype(np.float64) / 2.0 ** (8 * samples.dtype.itemsize - 1)
    else:
        x = samples.astype(np.float64)
    x = torch.from_numpy(x)
    if x.dim() == 2:  # (n, channels) -> mono
        x = x.mean(dim=1)
    return x.clamp(-1.0, 1.0).float(), int(rate)


@declare_facts(lambda *, path=None, **_: {"kind": "signals", "levels": None,
                                           **({} if path else {"shape": (1, len(synthetic_audio()))})})
def audio(*, root: str | None = None, split: str = "train", path: str | None = None) -> SignalDataset:
    """A sound to fit (a WAV file or an embedded chirp): item (1, n) in [-1, 1].

    Mono; the dataset's ``sample_rate`` is in Hz.
    ``path`` is a WAV file (8/16/32-bit integer or float; channels are averaged), relative to ``root``
    when ``root`` is set; without it, the embedded 3 s synthetic sound at 16 kHz (`synthetic_audio`).
    """
    check_split(split, "audio")
    if path is None:
        samples, rate = synthetic_audio(), SAMPLE_RATE
    else:
        file = Path(path).expanduser()
        if root is not None and not file.is_absolute():
            file = Path(root).expanduser() / file
        samples, rate = _read_wav(file)
    return SignalDataset(rearrange(samples, "n -> 1 n"), sample_rate=rate)


#: The video files `video` reads (GIF through Pillow; MP4 through imageio-ffmpeg, ``genzoo[video]``).
VIDEO_SUFFIXES = (".gif", ".mp4")

#: scikit-image's bundled clip: 24 RGB frames of 25 x 14 pixels at 70 ms a frame.
CLIP = "no_time_for_that_tiny.gif"


def _clip() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data" / CLIP


def _read_video(path: Path) -> tuple[np.ndarray, float]:
    """A GIF or MP4 file -> its frames ``(t, h, w, 3)`` uint8 and its frame rate (frames per second)."""
    import imageio.v3 as iio

    expected = f"expected a video file ({', '.join(VIDEO_SUFFIXES)}); set it with --set data.path=FILE"
    if not path.is_file():
        raise DataNotFoundError(f"video file {path} not found: {expected} (or leave data.path unset for "
                                f"scikit-image's clip {CLIP})")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise DataError(f"video file {path} has the suffix {path.suffix or '(none)'!r}: {expected}")
    try:
        frames, meta = iio.imread(path, index=None), iio.immeta(path)
    except Exception as error:  # noqa: BLE001 — Pillow's and ffmpeg's errors for a damaged or foreign file
        extra = " (MP4 needs imageio-ffmpeg: pip install 'genzoo[video]')" if path.suffix.lower() == ".mp4" else ""
        raise DataError(f"corrupt or unsupported video file {path}{extra}: {type(error).__name__}: {error}") from error
    if frames.ndim != 4 or frames.shape[-1] not in (3, 4) or frames.dtype != np.uint8:
        raise DataError(f"video file {path} holds {frames.dtype} pixels of shape {frames.shape}: expected 8-bit "
                        "frames (t, h, w, 3)")
    rate = meta.get("fps") or (1000.0 / meta["duration"] if meta.get("duration") else None)
    if not rate:
        raise DataError(f"video file {path} states no frame rate (a GIF's frame duration, an MP4's fps)")
    return frames[..., :3], float(rate)


@declare_facts(lambda **_: {"kind": "signals"})  # the shape and levels are the file's: read when it loads
def video(*, root: str | None = None, split: str = "train", path: str | None = None,
          frames: PositiveInt | None = None, size: PositiveInt | None = None) -> SignalDataset:
    """A video to fit (a GIF/MP4 file or scikit-image's clip): item (3, t, h, w) in [0, 1].

    ``path`` is a GIF or MP4 file (MP4 needs imageio-ffmpeg), relative to ``root`` when ``root`` is set;
    without it, scikit-image's 24-frame clip (``CLIP``). ``frames`` keeps the first that many frames;
    ``size`` resizes every frame so that its longest side is ``size`` pixels (antialiased bilinear, the
    aspect ratio kept). The dataset's ``sample_rate`` is the frame rate (frames per second). Kept as they
    are, the 8-bit frames have 256 levels; resized, their values are continuous.
    """
    check_split(split, "video")
    file = _clip() if path is None else Path(path).expanduser()
    if path is not None and root is not None and not file.is_absolute():
        file = Path(root).expanduser() / file
    pixels, rate = _read_video(file)
    x = rearrange(torch.from_numpy(np.ascontiguousarray(pixels[:frames])), "t h w c -> t c h w")
    levels = 256
    if size is not None:
        h, w = x.shape[-2:]
        shape = tuple(max(1, round(n * size / max(h, w))) for n in (h, w))
        x, levels = F.interpolate(x.float() / 255.0, size=shape, mode="bilinear", antialias=True).clamp_(0, 1), None
    else:
        x = x.float() / 255.0
    return SignalDataset(rearrange(x, "t c h w -> c t h w"), sample_rate=rate, levels=levels)
