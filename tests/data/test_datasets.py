"""Tests for zoo.data: the embedded datasets, the loaders of real formats (on tiny files written here in
those formats, by hand), deterministic splits, and errors that name the path and say what to do.

References are independent of the code under test: scikit-learn / scikit-image arrays read directly,
PIL's own crop + bilinear resize, CIFAR's documented row layout, IDX bytes written with struct, WAV
samples written with the stdlib ``wave`` module.
"""

from __future__ import annotations

import gzip
import inspect
import pickle
import struct
import typing
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo.data
from zoo.data import DataError, DataNotFoundError
from zoo.data.core import split_indices
from zoo.data.images import cifar10, digits, fashion_mnist, image_folder, lfw_faces, mnist
from zoo.data.signals import CLIP, astronaut, audio, camera, image, synthetic_audio, video

PLAIN_TYPES = {int, float, bool, str, int | None, str | None, tuple[int, int]}


def items(dataset) -> torch.Tensor:
    return torch.stack([dataset[i] for i in range(len(dataset))])


def rows(batch: torch.Tensor) -> Counter:
    """The items of a batch as a multiset (duplicates allowed), to compare splits with the full set."""
    return Counter(x.numpy().tobytes() for x in batch)


# --- registration and the factory contract ----------------------------------------------------------------


def registered() -> dict[str, typing.Callable]:
    found = {}
    zoo.data.register_components(lambda kind, name, obj, **kw: found.setdefault((kind, name), obj))
    assert {kind for kind, _ in found} == {"dataset"}
    return {name: obj for (_, name), obj in found.items()}


def test_every_dataset_is_registered_with_the_factory_signature():
    factories = registered()
    assert set(factories) == {
        "digits", "lfw-faces", "mnist", "fashion-mnist", "cifar10", "image-folder",
        "image", "camera", "astronaut", "audio", "video",
    }  # fmt: skip (the scenes are zoo_nerf's: tests/plugins/test_nerf_scenes.py)
    for name, factory in factories.items():
        params = inspect.signature(factory).parameters
        assert all(p.kind is p.KEYWORD_ONLY for p in params.values()), name
        assert params["root"].default is None and params["split"].default == "train", name
        hints = typing.get_type_hints(factory)
        options = set(params) - {"root", "split"}
        assert all(hints[o] in PLAIN_TYPES for o in options), (name, {o: hints[o] for o in options})
        assert inspect.getdoc(factory), name


def test_camera_and_astronaut_are_image_with_the_name_bound():
    for bound, name in ((camera, "camera"), (astronaut, "astronaut")):
        assert inspect.signature(bound).parameters["name"].default == name
        assert inspect.signature(bound).parameters.keys() == inspect.signature(image).parameters.keys()
        assert torch.equal(bound(size=16)[0], image(name=name, size=16)[0])
    assert camera(name="astronaut").shape == (3, 512, 512)  # a bound default is still only a default


def test_zoo_create_builds_a_registered_dataset():
    import zoo

    data = zoo.create("dataset", "digits", split="test")
    assert data.shape == (1, 8, 8) and len(data) == 180


# --- embedded datasets -----------------------------------------------------------------------------------


def test_digits_train_and_test_partition_sklearn_digits():
    from sklearn.datasets import load_digits

    raw = torch.from_numpy(load_digits().images).float()[:, None]  # (1797, 1, 8, 8), counts 0..16
    train, test = digits(split="train"), digits(split="test")
    assert (len(train), len(test)) == (1617, 180)
    assert train.shape == test.shape == (1, 8, 8) == tuple(train[0].shape)
    xs, ys = items(train), items(test)
    assert xs.dtype == torch.float32 and xs.min() == 0 and xs.max() == 1
    assert rows(xs) + rows(ys) == rows(raw / 16)  # together exactly the data set, each image once
    assert torch.equal(items(digits(split="test")), ys)  # deterministic


def test_digits_binarize_thresholds_at_half():
    from sklearn.datasets import load_digits

    raw = torch.from_numpy(load_digits().images).float()[:, None]
    ones = items(digits(split="train", threshold_binarize=True))
    assert set(ones.unique().tolist()) == {0.0, 1.0}
    expected = (raw > 8).float()  # counts 0..16: 8/16 is not above 0.5, 9/16 is
    assert rows(ones) + rows(items(digits(split="test", threshold_binarize=True))) == rows(expected)


def test_digits_size_resizes_them_like_pil():
    """32x32 digits as GON's reference setup trains on: PIL's bilinear resize of each 8x8 float image."""
    test, big = items(digits(split="test")), digits(split="test", size=32)
    assert big.shape == (1, 32, 32) == tuple(big[0].shape) and len(big) == 180
    reference = torch.stack([
        torch.from_numpy(np.array(Image.fromarray(x[0].numpy(), mode="F").resize((32, 32), Image.BILINEAR)))
        for x in test[:5]
    ])
    torch.testing.assert_close(items(big)[:5, 0], reference, atol=1e-5, rtol=0)


def test_split_indices_are_deterministic_disjoint_and_complete():
    for n in (2, 10, 101, 1797):
        train, test = split_indices(n, "train", "x"), split_indices(n, "test", "x")
        assert len(test) == max(1, round(0.1 * n))
        assert sorted(torch.cat([train, test]).tolist()) == list(range(n))
        assert torch.equal(split_indices(n, "test", "x"), test)
    assert not torch.equal(split_indices(100, "test", "x"), torch.arange(10))  # shuffled, not the head


def test_lfw_faces_are_the_100_faces_of_skimage_split_90_10():
    from skimage.data import lfw_subset

    faces = torch.from_numpy(lfw_subset()[:100]).float()[:, None]
    train, test = lfw_faces(split="train"), lfw_faces(split="test")
    assert (len(train), len(test)) == (90, 10) and train.shape == (1, 25, 25)
    assert rows(items(train)) + rows(items(test)) == rows(faces)

    small = lfw_faces(split="test", size=12)
    assert small.shape == (1, 12, 12) == tuple(small[0].shape)
    x = items(small)
    assert 0 <= x.min() and x.max() <= 1
    assert torch.allclose(x.mean(), items(test).mean(), atol=0.01)  # resizing keeps the mean brightness


@pytest.mark.parametrize("split", ["val", "training"])
@pytest.mark.parametrize("factory", [digits, lfw_faces, image, audio, mnist, cifar10])
def test_unknown_split_lists_the_valid_ones(factory, split, tmp_path):
    with pytest.raises(DataError, match=rf"unknown split '{split}'.*train, test"):
        factory(root=str(tmp_path), split=split)


def test_image_is_the_skimage_picture_as_is():
    import skimage.data
    from skimage.color import rgb2gray

    cam = camera()
    assert len(cam) == 1 and cam.shape == (1, 512, 512)
    assert torch.equal(cam[0][0], torch.from_numpy(skimage.data.camera()).float() / 255)
    assert torch.equal(cam[0], camera(split="test")[0])  # one signal: test is the same signal

    rgb = astronaut()
    assert rgb.shape == (3, 512, 512) and torch.allclose(
        rgb[0].permute(1, 2, 0), torch.from_numpy(skimage.data.astronaut()).float() / 255
    )
    grey = astronaut(grey=True)
    assert grey.shape == (1, 512, 512)
    assert torch.allclose(grey[0][0], torch.from_numpy(rgb2gray(skimage.data.astronaut())).float(), atol=1e-6)
    logo = image(name="logo")  # RGBA: alpha is blended away
    assert logo.shape == (3, 500, 500) and 0 <= logo[0].min() and logo[0].max() <= 1


def test_image_size_center_crops_and_resizes_like_pil():
    import skimage.data

    coffee = image(name="coffee", size=64)  # 400 x 600: the central square is columns 100..499
    reference = (
        Image.fromarray(skimage.data.coffee()).crop((100, 0, 500, 400)).resize((64, 64), Image.BILINEAR)
    )
    expected = torch.from_numpy(np.array(reference)).float().permute(2, 0, 1) / 255
    assert coffee.shape == (3, 64, 64)
    assert (coffee[0] - expected).abs().max() < 2 / 255  # PIL rounds to bytes


def test_unknown_image_name_suggests_one():
    with pytest.raises(DataError, match=r"unknown image 'camra' — did you mean 'camera'.*astronaut"):
        image(name="camra")
    with pytest.raises(DataError, match="size must be a positive integer"):
        image(size=0)


def test_synthetic_audio_is_deterministic_in_range_with_its_harmonics():
    sound = audio()
    assert len(sound) == 1 and sound.shape == (1, 48_000) and sound.sample_rate == 16_000
    x = sound[0]
    assert torch.equal(x, audio(split="test")[0])
    assert x.abs().max() == pytest.approx(0.9, abs=1e-6)
    spectrum = np.abs(np.fft.rfft(x[0].numpy()))
    hz = np.fft.rfftfreq(48_000, 1 / 16_000)
    assert hz[spectrum.argmax()] == 220  # the chord's fundamental
    assert {440.0, 660.0} <= set(hz[np.argsort(spectrum)[-5:]].tolist())  # and its harmonics
    assert len(synthetic_audio(seconds=0.5)) == 8000


# --- WAV files ------------------------------------------------------------------------------------------


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """Integer PCM ``(n, channels)`` through the stdlib wave module."""
    with wave.open(str(path), "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(samples.dtype.itemsize)
        f.setframerate(rate)
        f.writeframes(samples.astype(samples.dtype.newbyteorder("<")).tobytes())


def test_wav_files_load_mono_in_range_with_their_sample_rate(tmp_path):
    stereo = np.array([[32767, -32768], [16384, 0], [-16384, -16384], [0, 100]], dtype=np.int16)
    write_wav(tmp_path / "stereo.wav", stereo, 8000)
    sound = audio(path=str(tmp_path / "stereo.wav"))
    assert sound.sample_rate == 8000 and sound.shape == (1, 4)
    expected = [(32767 - 32768) / 2 / 32768, 0.25, -0.5, 50 / 32768]
    assert sound[0][0].tolist() == pytest.approx(expected)

    write_wav(tmp_path / "bytes.wav", np.array([[0], [128], [255]], dtype=np.uint8), 22050)
    sound = audio(root=str(tmp_path), path="bytes.wav")  # relative to root
    assert sound.sample_rate == 22050 and sound[0][0].tolist() == pytest.approx([-1.0, 0.0, 127 / 128])


def test_missing_or_corrupt_wav_names_the_file(tmp_path):
    with pytest.raises(DataNotFoundError, match=rf"{tmp_path / 'nope.wav'}.*data\.path"):
        audio(path=str(tmp_path / "nope.wav"))
    (tmp_path / "noise.wav").write_bytes(b"this is not a RIFF file at all")
    with pytest.raises(DataError, match=rf"WAV file {tmp_path / 'noise.wav'}"):
        audio(path=str(tmp_path / "noise.wav"))


# --- MNIST IDX files -------------------------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> None:
    """The IDX format by hand: magic 2051 (images, 3 dims) or 2049 (labels, 1 dim), big-endian dims, bytes."""
    magic = {3: 2051, 1: 2049}[array.ndim]  # 0x0000 0x08 (unsigned byte) <ndim>
    data = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()
    if compress:
        path, data = path.with_name(path.name + ".gz"), gzip.compress(data)
    path.write_bytes(data)


def write_mnist(root: Path, folder: str, *, compress: bool = False) -> dict[str, np.ndarray]:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = {"train": rng.integers(0, 256, (5, 28, 28)), "t10k": rng.integers(0, 256, (3, 28, 28))}
    for prefix, pixels in images.items():
        write_idx(raw / f"{prefix}-images-idx3-ubyte", pixels, compress=compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(len(pixels)) % 10, compress=compress)
    return images


def test_mnist_reads_idx_files(tmp_path):
    pixels = write_mnist(tmp_path, "MNIST")
    train, test = mnist(root=str(tmp_path)), mnist(root=str(tmp_path), split="test")
    assert (len(train), len(test)) == (5, 3) and train.shape == (1, 28, 28) == tuple(train[0].shape)
    assert torch.allclose(items(train), torch.from_numpy(pixels["train"]).float()[:, None] / 255)
    assert torch.allclose(items(test), torch.from_numpy(pixels["t10k"]).float()[:, None] / 255)
    binary = items(mnist(root=str(tmp_path), threshold_binarize=True))
    assert torch.equal(binary, torch.from_numpy(pixels["train"] > 127.5).float()[:, None])


def test_mnist_size_resizes_the_bytes_like_pil(tmp_path):
    pixels = write_mnist(tmp_path, "MNIST")
    resized = mnist(root=str(tmp_path), split="test", size=32)
    assert resized.shape == (1, 32, 32) and resized.images.dtype == torch.uint8  # still bytes in memory
    reference = [np.array(Image.fromarray(p.astype(np.uint8)).resize((32, 32), Image.BILINEAR)) for p in pixels["t10k"]]
    expected = torch.from_numpy(np.stack(reference)).float()[:, None] / 255
    assert (items(resized) - expected).abs().max() <= 1.5 / 255  # both round to bytes, PIL in fixed point


def test_fashion_mnist_reads_gzipped_idx_files_from_its_folder(tmp_path):
    pixels = write_mnist(tmp_path, "FashionMNIST", compress=True)
    test = fashion_mnist(root=str(tmp_path), split="test")
    assert torch.allclose(items(test), torch.from_numpy(pixels["t10k"]).float()[:, None] / 255)
    with pytest.raises(DataNotFoundError, match="MNIST/raw"):  # each set reads its own folder
        mnist(root=str(tmp_path))


def test_missing_mnist_names_the_path_the_layout_and_how_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError) as error:
        mnist(root=str(tmp_path / "nowhere"))
    message = str(error.value)
    assert str(tmp_path / "nowhere" / "MNIST" / "raw" / "train-images-idx3-ubyte") in message
    assert "<root>/MNIST/raw/train-images-idx3-ubyte[.gz]" in message
    assert "--set data.download=true" in message and "https://" in message


def test_corrupt_mnist_file_is_named(tmp_path):
    write_mnist(tmp_path, "MNIST")
    bad = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(DataError, match=rf"corrupt mnist file {bad}"):
        mnist(root=str(tmp_path), split="test")
    mnist(root=str(tmp_path), split="train")  # the other split still loads


# --- CIFAR-10 pickles ------------------------------------------------------------------------------------


def python2_batch(batch: dict) -> bytes:
    """A CIFAR-10 batch as the official files hold it: cPickle protocol 2 written by Python 2 and numpy 1.x.

    Python 3 can't write this (its protocol 2 stores bytes through ``_codecs.encode``), so it is assembled
    from pickle opcodes: strings are Python 2 byte strings (BINSTRING), the array is rebuilt by
    ``numpy.core.multiarray._reconstruct(ndarray, (0,), 'b')`` and a ``(1, shape, dtype, False, raw)`` state.
    """

    def string(b: bytes) -> bytes:
        return b"T" + struct.pack("<i", len(b)) + b

    def integer(i: int) -> bytes:
        return b"J" + struct.pack("<i", i)

    def value(x) -> bytes:
        if isinstance(x, str):
            return string(x.encode())
        if isinstance(x, list):  # EMPTY_LIST, MARK, items, APPENDS
            return b"](" + b"".join(integer(i) for i in x) + b"e"
        n, width = x.shape  # numpy.dtype("u1", 0, 1) with its state (3, "|", None, None, None, -1, -1, 0)
        dtype = (b"cnumpy\ndtype\n" + string(b"u1") + integer(0) + integer(1) + b"\x87R(" + integer(3)
                 + string(b"|") + b"NNN" + integer(-1) + integer(-1) + integer(0) + b"tb")
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + integer(0) + b"\x85" + string(b"b")
                + b"\x87R(" + integer(1) + integer(n) + integer(width) + b"\x86" + dtype + b"\x89"
                + string(x.tobytes()) + b"tb")

    # PROTO 2, EMPTY_DICT, MARK, key value ..., SETITEMS, STOP
    return b"\x80\x02}(" + b"".join(string(k.encode()) + value(v) for k, v in batch.items()) + b"u."


def write_cifar10(root: Path, per_batch: int = 2, protocol: int | str = 4) -> dict[str, np.ndarray]:
    """CIFAR-10's folder with random batches, pickled with ``protocol`` ("python2": as the official files)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    batches = {
        f"data_batch_{i}": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8) for i in range(1, 6)
    }
    batches["test_batch"] = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    for name, data in batches.items():
        batch = {"batch_label": name, "labels": [i % 10 for i in range(len(data))], "data": data}
        blob = python2_batch(batch) if protocol == "python2" else pickle.dumps(batch, protocol=protocol)
        (folder / name).write_bytes(blob)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}, f)
    return batches


@pytest.mark.parametrize("protocol", ["python2", 4, 5])
def test_cifar10_reads_python_pickles_in_their_row_layout(tmp_path, protocol):
    batches = write_cifar10(tmp_path, protocol=protocol)
    if protocol == "python2":  # the hand-assembled file is what plain unpickling makes of the official ones
        blob = (tmp_path / "cifar-10-batches-py" / "data_batch_2").read_bytes()
        assert np.array_equal(pickle.loads(blob, encoding="latin1")["data"], batches["data_batch_2"])
    train, test = cifar10(root=str(tmp_path)), cifar10(root=str(tmp_path), split="test")
    assert (len(train), len(test)) == (10, 3) and train.shape == (3, 32, 32) == tuple(train[0].shape)
    # a row is 1024 red, then 1024 green, then 1024 blue bytes, each 32 x 32 row-major
    row = batches["data_batch_2"][1]
    x = train[3]
    for c, i, j in ((0, 0, 0), (0, 5, 17), (1, 31, 2), (2, 12, 31)):
        assert x[c, i, j] == pytest.approx(row[1024 * c + 32 * i + j] / 255)
    assert torch.allclose(items(test).flatten(1), torch.from_numpy(batches["test_batch"]).float() / 255)


class CodePayload:
    """Unpickling this runs ``exec``: what a crafted data_batch_1 would carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_cifar10_batch_that_would_run_code_is_refused_by_name(tmp_path, protocol):
    write_cifar10(tmp_path)
    marker, bad = tmp_path / "pwned", tmp_path / "cifar-10-batches-py" / "data_batch_1"
    payload = {"batch_label": CodePayload(marker), "data": np.zeros((1, 3072), np.uint8)}
    bad.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(DataError, match=rf"refusing to load cifar10 file {bad}: it names \S+\.exec,"):
        cifar10(root=str(tmp_path))
    assert not marker.exists()
    pickle.loads(bad.read_bytes())  # the payload is live: plain unpickling runs it
    assert marker.read_text() == "code ran"


def test_a_cifar10_batch_of_the_wrong_shape_or_type_is_named(tmp_path):
    write_cifar10(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    bad.write_bytes(pickle.dumps({"data": np.zeros((2, 1024), np.uint8)}))
    with pytest.raises(DataError, match=rf"corrupt cifar10 file {bad}: .*'data' is a uint8 array of shape \(2, 1024\)"):
        cifar10(root=str(tmp_path))
    bad.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match=rf"corrupt cifar10 file {bad}: .*but it holds a list"):
        cifar10(root=str(tmp_path))


def test_missing_cifar10_names_the_path_the_layout_and_how_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError) as error:
        cifar10(root=str(tmp_path))
    message = str(error.value)
    assert str(tmp_path / "cifar-10-batches-py") in message and "data_batch_1" in message
    assert "<root>/cifar-10-batches-py/data_batch_1..5" in message
    assert "--set data.download=true" in message and "cifar-10-python.tar.gz" in message


def test_corrupt_cifar10_batch_is_named(tmp_path):
    write_cifar10(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(bad.read_bytes()[:50])  # truncated
    with pytest.raises(DataError, match=rf"corrupt cifar10 file {bad}"):
        cifar10(root=str(tmp_path))


# --- image folders ---------------------------------------------------------------------------------------


def write_pictures(folder: Path) -> dict[str, Image.Image]:
    rng = np.random.default_rng(2)
    pictures = {
        "a.png": Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)),
        "b.jpg": Image.new("RGB", (20, 20), (255, 0, 128)),
        "sub/c.png": Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)),  # grey
        "sub/deeper/d.PNG": Image.new("RGBA", (16, 48), (0, 255, 0, 40)),
        "e.bmp": Image.new("RGB", (8, 8), (10, 20, 30)),
    }
    for name, picture in pictures.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        picture.save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    return pictures


def test_image_folder_finds_crops_and_resizes_images(tmp_path):
    pictures = write_pictures(tmp_path)
    train = image_folder(root=str(tmp_path), size=16)
    test = image_folder(root=str(tmp_path), split="test", size=16)
    assert (len(train), len(test)) == (4, 1) and train.shape == (3, 16, 16)
    found = [p.relative_to(tmp_path).as_posix() for p in train.files + test.files]
    assert sorted(found) == sorted(pictures) and not set(train.files) & set(test.files)
    assert image_folder(root=str(tmp_path), split="test", size=16).files == test.files  # deterministic

    by_name = {
        p.relative_to(tmp_path).as_posix(): x for p, x in zip(train.files + test.files, [*train, *test])
    }
    x = by_name["a.png"]  # central 30 x 30 of a 40-wide picture, resized as PIL does
    reference = pictures["a.png"].crop((5, 0, 35, 30)).resize((16, 16), Image.BILINEAR)
    assert (x - torch.from_numpy(np.array(reference)).float().permute(2, 0, 1) / 255).abs().max() < 2 / 255
    solid = by_name["sub/deeper/d.PNG"]  # RGBA -> RGB keeps the colour, drops alpha
    assert torch.allclose(solid, torch.tensor([0.0, 1.0, 0.0])[:, None, None].expand(3, 16, 16))
    assert by_name["sub/c.png"].shape == (3, 16, 16)  # grey pictures become RGB

    grey = image_folder(root=str(tmp_path), size=8, grey=True)
    assert grey.shape == (1, 8, 8) == tuple(grey[0].shape)
    pixel = items(grey)
    assert 0 <= pixel.min() and pixel.max() <= 1


def test_image_folder_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(DataNotFoundError, match="--set data.root=PATH"):
        image_folder()
    with pytest.raises(DataNotFoundError, match=rf"{tmp_path / 'missing'} does not exist.*\.png"):
        image_folder(root=str(tmp_path / "missing"))
    with pytest.raises(DataNotFoundError, match=rf"no images in {tmp_path}"):
        image_folder(root=str(tmp_path))
    Image.new("RGB", (4, 4)).save(tmp_path / "fine.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but then garbage")
    splits = [image_folder(root=str(tmp_path), split=split, size=4) for split in ("train", "test")]
    data = next(d for d in splits if broken in d.files)
    with pytest.raises(DataError, match=rf"corrupt image file {broken}"):
        data[data.files.index(broken)]


def test_a_failed_download_says_where_to_fetch_by_hand(tmp_path, monkeypatch):
    from urllib.error import URLError

    import torchvision.datasets

    def offline(self):
        raise URLError("no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(
        DataNotFoundError, match=r"(?s)could not download mnist.*no network.*by hand from https://"
    ):
        mnist(root=str(tmp_path), download=True)


# --- video ------------------------------------------------------------------------------------------------


def gif_frames(path: Path) -> np.ndarray:
    """A GIF's frames ``(t, h, w, 3)``, read by Pillow frame by frame."""
    from PIL import ImageSequence

    with Image.open(path) as gif:
        return np.stack([np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)])


def test_the_embedded_clip_is_scikit_images_gif_at_its_frame_rate():
    import skimage

    clip = video()
    expected = gif_frames(Path(skimage.__file__).parent / "data" / CLIP)  # (24, 25, 14, 3)
    assert clip.shape == (3, 24, 25, 14) and clip.levels == 256 and clip.sample_rate == pytest.approx(1000 / 70)
    torch.testing.assert_close(clip[0], torch.from_numpy(expected).permute(3, 0, 1, 2).float() / 255)
    assert torch.equal(clip[0], video(split="test")[0])


def test_a_users_gif_loads_its_frames_rate_and_options(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (5, 6, 8, 3), dtype=np.uint8)
    pictures = [Image.fromarray(f) for f in frames]
    pictures[0].save(tmp_path / "clip.gif", save_all=True, append_images=pictures[1:], duration=50, loop=0)
    clip = video(root=str(tmp_path), path="clip.gif")  # relative to root
    assert clip.shape == (3, 5, 6, 8) and clip.sample_rate == pytest.approx(20.0)
    written = torch.from_numpy(gif_frames(tmp_path / "clip.gif")).permute(3, 0, 1, 2).float() / 255  # GIF palette
    torch.testing.assert_close(clip[0], written)
    short = video(path=str(tmp_path / "clip.gif"), frames=2, size=4)
    assert short.shape == (3, 2, 3, 4) and short.levels is None  # the first 2 frames, 6 x 8 -> 3 x 4


def test_a_missing_or_bad_video_names_the_file_and_the_format(tmp_path):
    with pytest.raises(DataNotFoundError, match=rf"{tmp_path / 'nope.gif'} not found: expected a video file "
                                                r"\(\.gif, \.mp4\).*data\.path"):
        video(path=str(tmp_path / "nope.gif"))
    (tmp_path / "notes.txt").write_text("not a video")
    with pytest.raises(DataError, match=r"notes\.txt has the suffix '\.txt': expected a video file \(\.gif, \.mp4\)"):
        video(path=str(tmp_path / "notes.txt"))
    (tmp_path / "torn.gif").write_bytes(b"GIF89a" + bytes(10))
    with pytest.raises(DataError, match=rf"corrupt or unsupported video file {tmp_path / 'torn.gif'}"):
        video(path=str(tmp_path / "torn.gif"))
