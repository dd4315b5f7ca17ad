"""The PyTorch twin (Tests/python/vae_twin.py) of a vae-dist configuration of layer lists, trained with the same
settings as `vae-dist train --config CONFIG`: MNIST-like grey levels in [0, 1] (DATA_DIR's IDX files), or a picture
folder's train/ and test/ as vae-dist decoded them (their .vae-dist-cache NPY), with the discretized logistic (a
per-pixel log-scale starting at −2) and flips when the configuration has them, Adam (lr and
batch from the configuration, β = (0.9, 0.999), ε = 1e-8), loss = BCE-with-logits sum + KL, PyTorch's default
initialization, a shuffled order each epoch, the last partial batch kept; after each epoch the test loss per sample
with z sampled, as vae-dist and the PyTorch example report it. Run by Launch/conv-twin.sh; not part of CI.

    python3 Launch/train-conv-twin.py CONFIG.json DATA_DIR [THREADS]
    python3 Launch/train-conv-twin.py CONFIG.json DATA_DIR --export FILE

With `--export FILE` (a `vae-dist export` of a model of CONFIG) it instead loads FILE into the twin with
`load_state_dict(strict=True)` and prints that model's test loss per sample (z sampled), for comparison with vae-dist's.
"""
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "python"))
import vae_twin  # noqa: E402


def idx_images(path):
    opener = gzip.open if not os.path.exists(path) else open
    with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
        data = f.read()
    count, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows * cols).astype(np.float32) / 255.0


def safetensors_state(path):
    """A safetensors file's F32 tensors as a state_dict (its format: 8-byte header length, JSON header, data)."""
    with open(path, "rb") as f:
        data = f.read()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    state = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        values = np.frombuffer(data, dtype="<f4", count=(end - start) // 4, offset=8 + length + start)
        state[name] = torch.from_numpy(values.copy()).reshape(entry["shape"])
    return state


def cached_pictures(folder):
    """A picture folder's images as vae-dist decoded them (its .vae-dist-cache NPY, [N, H, W, C] uint8), flat CHW."""
    cache = os.path.join(folder, ".vae-dist-cache")
    newest = max((os.path.join(cache, n) for n in os.listdir(cache) if n.endswith(".npy")), key=os.path.getmtime)
    pictures = np.load(newest)
    return pictures.transpose(0, 3, 1, 2).reshape(len(pictures), -1).astype(np.float32) / 255.0


def discretized_logistic_nll(location, log_scale, x):
    """Σ −log P(x) of 8-bit pixels x ∈ [0, 1] (vae-dist's DiscretizedLogisticLikelihood): bins of width 2/255 on
    [−1, 1], the edge bins taking the tails."""
    centred = 2 * x - 1 - location
    inverse = torch.exp(-log_scale)
    a, b = (centred + 1 / 255) * inverse, (centred - 1 / 255) * inverse
    middle = F.softplus(-a) + F.softplus(b) - torch.log(-torch.expm1(-(a - b)))
    nll = torch.where(x < 0.5 / 255, F.softplus(-a), torch.where(x > 254.5 / 255, F.softplus(b), middle))
    return nll.sum()


def main():
    config_path, data = sys.argv[1], sys.argv[2]
    export = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--export" else None
    threads = int(sys.argv[3]) if len(sys.argv) > 3 and export is None else os.cpu_count()
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    with open(config_path) as f:
        config = json.load(f)
    training = config.get("training", {})
    epochs, batch, lr = training.get("epochs", 10), training.get("batch_size", 128), training.get("learning_rate", 1e-3)
    model = vae_twin.Twin(config["model"])
    if os.path.isdir(os.path.join(data, "train", ".vae-dist-cache")):
        train = torch.from_numpy(cached_pictures(os.path.join(data, "train")))
        test = torch.from_numpy(cached_pictures(os.path.join(data, "test")))
    else:
        train = torch.from_numpy(idx_images(os.path.join(data, "train-images-idx3-ubyte")))
        test = torch.from_numpy(idx_images(os.path.join(data, "t10k-images-idx3-ubyte")))
    logistic = config["model"].get("likelihood") == "discretized_logistic"
    flip = config.get("data", {}).get("flip", False)
    log_scale = torch.nn.Parameter(torch.full((train.shape[1],), -2.0)) if logistic else None
    optimizer = torch.optim.Adam(list(model.parameters()) + ([log_scale] if logistic else []), lr=lr)
    shape = model.input_shape

    def loss_of(x):
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = model.decode(z)
        reconstruction = (
            discretized_logistic_nll(logits, log_scale, x) if logistic
            else F.binary_cross_entropy_with_logits(logits, x, reduction="sum"))
        return reconstruction - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    if export:
        model.load_state_dict(safetensors_state(export), strict=True)
        with torch.no_grad():
            total = sum(loss_of(test[i:i + 1000]).item() for i in range(0, len(test), 1000))
        print(f"export {export} loaded strictly: test_loss {total / len(test):.4f}")
        return
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        for indices in torch.randperm(len(train)).split(batch):
            optimizer.zero_grad()
            x = train[indices]
            if flip:  # each picture mirrored left to right with probability ½
                pictures = x.reshape(-1, *shape)
                mirrored = torch.rand(len(x)) < 0.5
                pictures = torch.where(mirrored[:, None, None, None], pictures.flip(-1), pictures)
                x = pictures.reshape(len(x), -1)
            loss = loss_of(x)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            total = sum(loss_of(test[i:i + 1000]).item() for i in range(0, len(test), 1000))
        bits = total / len(test) / (test.shape[1] * np.log(2)) if logistic else float("nan")
        print(f"epoch {epoch} test_loss {total / len(test):.4f} seconds {time.perf_counter() - start:.1f} bits_per_dim {bits:.4f}",
              flush=True)


if __name__ == "__main__":
    main()
