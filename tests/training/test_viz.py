"""zoo.viz: image grids with known pixels, and the metrics plot (optional matplotlib)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from PIL import Image

from zoo.errors import MissingExtraError
from zoo.viz import bars_figure, metrics_figure, plot_bars, plot_metrics, save_image_grid


def test_grid_layout_and_pixels(tmp_path):
    # six constant 8x8 images with values 0, 0.2, ..., 1.0 -> tiles of 64 px (x8 nearest), 3 per row, 2 px gaps
    images = torch.linspace(0, 1, 6)[:, None, None, None].expand(6, 1, 8, 8)
    image = Image.open(save_image_grid(images, tmp_path / "grid.png")).convert("L")
    assert image.size == (3 * 64 + 4 * 2, 2 * 64 + 3 * 2)
    for k in range(6):
        row, col = divmod(k, 3)
        x, y = 2 + col * 66, 2 + row * 66  # each tile's top-left pixel
        assert image.getpixel((x, y)) == image.getpixel((x + 63, y + 63)) == round(255 * k / 5)
    assert image.getpixel((0, 0)) == 255  # the padding is white


def test_grid_maps_the_value_range_and_accepts_missing_channels(tmp_path):
    images = torch.tensor([-1.0, 0.0, 1.0, 3.0])[:, None, None].expand(4, 2, 2)  # (n, h, w), in [-1, 1]
    image = Image.open(save_image_grid(images, tmp_path / "g.png", nrow=4, value_range=(-1, 1), min_tile=0))
    values = [image.convert("L").getpixel((2 + 4 * k, 2)) for k in range(4)]
    assert values == [0, 128, 255, 255]  # -1 -> 0, 0 -> 0.5, 1 -> 1, and 3 is clipped


def test_grid_rejects_what_is_not_an_image_batch(tmp_path):
    with pytest.raises(ValueError, match=r"not images"):
        save_image_grid(torch.zeros(4, 64), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"c = 1 or 3"):
        save_image_grid(torch.zeros(4, 5, 8, 8), tmp_path / "x.png")


def _write_metrics(path, records=None):
    records = records or [{"step": s, "split": "train", "metrics": {"loss": 1.0 / s}} for s in (1, 2, 3)] + [
        {"step": 3, "split": "eval", "metrics": {"loss": 0.5, "psnr": 20.0}}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _panels(fig):
    """{title: (y scale, {legend label: [(x, y), ...]})} of a figure's panels."""
    return {ax.get_title(): (ax.get_yscale(), {line.get_label(): [tuple(p) for p in line.get_xydata()]
                                               for line in ax.get_lines()})
            for ax in fig.axes}


def test_metrics_plot_has_one_panel_per_quantity_and_draws_equal_ones_once(tmp_path):
    """A fit logs mse and loss, the same numbers, in train, and psnr (dB) and mse in eval."""
    mse = [0.1, 0.01, 0.001]
    records = [{"step": s, "split": "train", "metrics": {"mse": m, "loss": m}} for s, m in zip((1, 2, 3), mse)]
    records += [{"step": 3, "split": "eval", "metrics": {"psnr": 3.0, "mse": 0.001}},  # psnr spans a decade
                {"step": 6, "split": "eval", "metrics": {"psnr": 41.0, "mse": 0.0001}}]
    _write_metrics(tmp_path / "metrics.jsonl", records)
    panels = _panels(metrics_figure(tmp_path / "metrics.jsonl"))
    assert set(panels) == {"mse = loss", "psnr"}
    assert panels["mse = loss"] == ("log", {"train": [(1, 0.1), (2, 0.01), (3, 0.001)],
                                            "eval": [(3, 0.001), (6, 0.0001)]})
    assert panels["psnr"] == ("linear", {"eval": [(3, 3.0), (6, 41.0)]})  # decibels are a log scale already


def test_metrics_plot_keeps_different_numbers_apart_and_log_scales_only_decades(tmp_path):
    records = [{"step": s, "split": "train", "metrics": {"recon": 150.0 - s, "kl": 10.0 ** -s,
                                                          "loss": 150.0 - s + 10.0 ** -s}} for s in (1, 2, 3)]
    _write_metrics(tmp_path / "metrics.jsonl", records)
    panels = _panels(metrics_figure(tmp_path / "metrics.jsonl"))
    assert {title: scale for title, (scale, _) in panels.items()} == {"recon": "linear", "kl": "log", "loss": "linear"}


def test_metrics_plot(tmp_path):
    _write_metrics(tmp_path / "metrics.jsonl")
    out = plot_metrics(tmp_path / "metrics.jsonl", tmp_path / "curves.png")
    assert Image.open(out).size == (900, 320)  # two panels (loss, psnr) of 4.5x3.2 inches at 100 dpi


def test_plots_without_matplotlib_say_how_to_install_it(tmp_path, monkeypatch):
    _write_metrics(tmp_path / "metrics.jsonl")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=r"need matplotlib, which is not installed: pip install 'genzoo\[plots"):
        plot_metrics(tmp_path / "metrics.jsonl", tmp_path / "curves.png")
    with pytest.raises(MissingExtraError):
        plot_bars({"a": 1.0}, tmp_path / "bars.png")
    assert not (tmp_path / "curves.png").exists() and not (tmp_path / "bars.png").exists()


def test_mp4_round_trip_keeps_every_frame_its_size_and_its_picture(tmp_path):
    """Frames written as H.264 and decoded again: all of them, in order, at an odd size made even, close to
    what went in (the codec is lossy; a frame that moved or was dropped is far off)."""
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    from zoo.viz import save_mp4

    h, w = 33, 48
    ramp = torch.linspace(0, 1, w).expand(h, w)
    frames = torch.stack([torch.stack([ramp.roll(8 * i, dims=1), torch.full((h, w), i / 4), 1 - ramp])
                          for i in range(5)])  # (5, 3, h, w): a ramp that shifts, a flat level that rises
    path = save_mp4(frames, tmp_path / "orbit.mp4", fps=10)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    assert tuple(meta["size"]) == (w, h + 1)  # (width, height): one row added to make 33 even
    decoded = torch.stack([torch.frombuffer(bytearray(f), dtype=torch.uint8) for f in reader]).float() / 255
    decoded = decoded.reshape(-1, h + 1, w, 3).permute(0, 3, 1, 2)[:, :, :h]
    assert decoded.shape == frames.shape
    assert (decoded - frames).abs().mean() < 0.03
    assert (decoded[1:] - frames[:-1]).abs().mean() > 0.1  # off by one frame is far off
    assert [p.name for p in tmp_path.iterdir()] == ["orbit.mp4"]  # written whole, no temporary left


@pytest.mark.parametrize("names", [[f"{i}" for i in range(10)], [f"kl_layer_{i:02d}" for i in range(43)],
                                   ["a rather long quantity name", "b"]])
def test_bar_charts_keep_every_tick_label_and_both_axis_labels_inside_the_picture(names):
    """Drawn (no file), each text's box must lie within the figure's: a label cut at the edge is not."""
    fig = bars_figure(dict(zip(names, range(len(names)))), title="KL per layer", xlabel="layer (top first)",
                      ylabel="KL (nats per dimension)")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays the figure out as savefig does
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    shown = [label for label, at in zip(ax.get_yticklabels(), ax.get_yticks()) if low <= at <= high]
    texts = [*ax.get_xticklabels(), *shown, ax.xaxis.label, ax.yaxis.label, ax.title]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert ax.get_xlabel() == "layer (top first)" and ax.get_ylabel() == "KL (nats per dimension)"
    for text in texts:
        box = text.get_window_extent(renderer)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, \
            (text.get_text(), box, fig.bbox)


def test_row_labels_stand_in_a_column_beside_their_rows(tmp_path):
    """Three rows of black tiles labelled T = 0.6, 0.8, 1.0: the picture grows by a white column on the left in
    which each row's band holds dark text, different for each label, and the tiles are where they were."""
    images = torch.zeros(6, 1, 8, 8)  # 3 rows of 2 black 8x8 tiles, enlarged to 64 px
    plain = Image.open(save_image_grid(images, tmp_path / "plain.png", nrow=2)).convert("L")
    labelled = Image.open(save_image_grid(images, tmp_path / "rows.png", nrow=2,
                                          row_labels=["T = 0.6", "T = 0.8", "T = 1"])).convert("L")
    extra = labelled.width - plain.width
    assert extra > 0 and labelled.height == plain.height
    assert labelled.crop((extra, 0, labelled.width, labelled.height)).tobytes() == plain.tobytes()
    bands = [labelled.crop((0, 2 + 66 * r, extra, 66 * (r + 1))) for r in range(3)]
    assert all(band.getextrema()[0] < 128 for band in bands)  # text in every row's band
    assert len({band.tobytes() for band in bands}) == 3  # and a different text in each
    above = labelled.crop((0, 0, extra, 2))  # the padding row above the first tiles stays white
    assert above.getextrema() == (255, 255)
