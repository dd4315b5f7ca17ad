"""PyTorch eager's training step on the twin of a vae-dist configuration of layer lists (Tests/python/vae_twin.py):
Adam, loss = BCE-with-logits sum + KL, a fixed batch of values in [0, 1] and fixed eps, timed over STEPS steps
after a warm-up, on THREADS threads. Prints one line: `samples_per_second N`. Run by Launch/bench-conv.sh.

    python3 Launch/bench-conv-pytorch.py CONFIG.json STEPS THREADS [BATCH]
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "python"))
import vae_twin  # noqa: E402


def main():
    config, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    with open(config) as f:
        model = vae_twin.Twin(json.load(f)["model"])
    inputs = 1
    for size in model.input_shape:
        inputs *= size
    latent = model.fc_mu.out_features
    x = torch.rand(batch, inputs)
    eps = torch.randn(batch, latent)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad()
        logits, mu, logvar = model(x, eps)
        loss = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") - 0.5 * torch.sum(
            1 + logvar - mu.pow(2) - logvar.exp())
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - start
    print(f"samples_per_second {steps * batch / elapsed:.1f}")


if __name__ == "__main__":
    main()
