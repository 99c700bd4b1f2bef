"""`vae-digits` against pythae's VAE on the same digits, the same MLP sizes and the same steps, in one run.

    pip install --target /tmp/pythae --no-deps pythae && pip install --target /tmp/pythae-deps "pydantic>=2" cloudpickle
    PYTHONPATH=.:plugins:benchmarks:/tmp/pythae:/tmp/pythae-deps python benchmarks/pythae_vae.py --repeats 3

Issue 12's anchor for the likelihood path: pythae (Chadebec et al. 2022) trains its VAE at ~20k examples/s on
one thread. Both sides here: an MLP encoder 64-256-256-(8 means, 8 log-variances) and an MLP decoder
8-256-256-(64 or 2 x 64), batch 64, Adam(W) at 1e-3, one torch thread, about 3,000 updates. pythae's side is
its own ``TrainingPipeline`` (``BaseTrainer``: its data loader, logging and the final save) with no evaluation
set, and by default the zoo's 17-level discretised logistic in place of its loss (its built-in losses are MSE
and BCE, whose NLL is not comparable; ``--likelihood mse`` keeps its own); ours
is ``zoo.training.fit`` on ``vae-digits`` as shipped (discretised logistic over 17 levels, evaluation every
500 steps, checkpoints, the curve plot): everything each library does when a user trains. The two alternate,
``--repeats`` times; each timing is the whole call, so import costs that a library pays once per process fall
on whichever runs first (a first round to warm up both is not counted).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time

import torch
from torch import nn

from likelihood_speed import fit_seconds
from zoo.likelihoods import DiscretizedLogisticLikelihood
from zoo.recipes import build_dataset, load_recipe


def pythae_seconds(train: torch.Tensor, epochs: int, likelihood: str) -> float:
    """Wall seconds of pythae's TrainingPipeline for ``epochs`` epochs of ``train`` ``(n, 1, 8, 8)``, with its
    ``mse`` loss or the zoo's discretised logistic over 17 levels (``discretized-logistic``)."""
    try:
        from pythae.models import VAE, VAEConfig
    except ImportError as error:
        raise SystemExit(f"pythae is not importable ({error}): install it as this file's docstring says") from None
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    for name in [name for name in logging.root.manager.loggerDict if name.startswith("pythae")]:
        logging.getLogger(name).setLevel(logging.WARNING)  # its lines per epoch (its tqdm bars go to stderr)

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                     nn.Linear(256, 16))

        def forward(self, x):
            mean, log_var = self.net(x).chunk(2, dim=-1)
            return ModelOutput(embedding=mean, log_covariance=log_var)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            outputs = 64 if likelihood == "mse" else 128
            self.net = nn.Sequential(nn.Linear(8, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                     nn.Linear(256, outputs))

        def forward(self, z):
            if likelihood == "mse":
                return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).reshape(-1, 1, 8, 8))
            return ModelOutput(reconstruction=self.net(z))  # 64 locations and 64 log scales

    class DiscretizedLogisticVAE(VAE):
        """pythae's VAE with vae-digits' likelihood: the negative ELBO in nats, as the zoo computes it."""

        def loss_function(self, recon_x, x, mu, log_var, z):
            params = recon_x.reshape(-1, 2, 8, 8)
            reconstruction = -DiscretizedLogisticLikelihood(num_bins=17)(params).log_prob(x)
            kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=-1)
            return (reconstruction + kl).mean(0), reconstruction.mean(0), kl.mean(0)

    config = VAEConfig(input_dim=(1, 8, 8), latent_dim=8, reconstruction_loss="mse")
    model = (VAE if likelihood == "mse" else DiscretizedLogisticVAE)(config, encoder=Encoder(), decoder=Decoder())
    with tempfile.TemporaryDirectory() as scratch:
        training = BaseTrainerConfig(output_dir=scratch, num_epochs=epochs, learning_rate=1e-3,
                                     per_device_train_batch_size=64, no_cuda=True, steps_saving=None)
        start = time.perf_counter()
        TrainingPipeline(model=model, training_config=training)(train_data=train)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--likelihood", choices=["discretized-logistic", "mse"], default="discretized-logistic",
                        help="pythae's side: the zoo's 17-level discretised logistic (vae-digits') or its own MSE")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="for vae-digits, e.g. train.eval_every=0 (no evaluations, as pythae without an eval set)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = build_dataset(load_recipe("vae-digits"), "train")
    train = torch.stack([dataset[i] for i in range(len(dataset))])
    batches_per_epoch = -(-len(train) // 64)
    epochs = round(args.steps / batches_per_epoch)
    steps = epochs * batches_per_epoch
    print(f"{len(train)} training digits, {epochs} epochs = {steps} steps of 64 for both; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    pythae_seconds(train, 1, args.likelihood)  # warm up both: imports, the allocator
    fit_seconds("vae-digits", 50, args.overrides)
    ours, theirs = [], []
    for round_ in range(args.repeats):
        sides = [("zoo", lambda: steps * 64 / fit_seconds("vae-digits", steps, args.overrides)[0]),
                 ("pythae", lambda: epochs * len(train) / pythae_seconds(train, epochs, args.likelihood))]
        for name, measure in sides if round_ % 2 == 0 else reversed(sides):
            (ours if name == "zoo" else theirs).append(measure())
            print(f"  round {round_}: {name} {(ours if name == 'zoo' else theirs)[-1]:,.0f} examples/s", flush=True)
    for name, rates in (("zoo vae-digits (fit)", ours), (f"pythae VAE (TrainingPipeline, {args.likelihood})", theirs)):
        print(f"{name}: best {max(rates):,.0f} examples/s, median {statistics.median(rates):,.0f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
