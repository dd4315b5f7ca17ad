# The PyTorch side of Launch/bench-pytorch.sh: the canonical VAE of PyTorch's example (784–400–20–400–784, ReLU,
# Bernoulli logits, Adam 1e-3, summed BCE + KL), eager mode, the MNIST training set already a tensor (no DataLoader),
# shuffled each epoch, batch 128, a fixed number of steps (an epoch's last batch is short, as in vae-dist) at a given thread count. Prints one
# JSON line.
#
#   python bench-pytorch.py MNIST_DIR STEPS THREADS [--test-passes]
#
# --test-passes: also the example's test pass at each epoch end (the 10,000 test images, batch 128, no gradients),
# as vae-dist's train does; the shell then times the whole process from launch.
import json, sys, time
import torch
import torch.nn.functional as F
from torch import nn


def read_idx_images(path):
    data = open(path, "rb").read()
    count = int.from_bytes(data[4:8], "big")
    pixels = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8)
    return pixels.view(count, 784).float() / 255.0


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar


def main():
    folder, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    test_passes = "--test-passes" in sys.argv[4:]
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    started = time.perf_counter()
    train = read_idx_images(f"{folder}/train-images-idx3-ubyte")
    test = read_idx_images(f"{folder}/t10k-images-idx3-ubyte") if test_passes else None
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch, done, samples, loss_sum = 128, 0, 0, 0.0
    loop_started = time.perf_counter()
    while done < steps:
        order = torch.randperm(train.shape[0])
        for start in range(0, train.shape[0], batch):
            if done == steps:
                break
            x = train[order[start:start + batch]]
            logits, mu, logvar = model(x)
            bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = bce + kld
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            done += 1
            samples += x.shape[0]
        else:
            if test is not None:
                test_loss = 0.0
                with torch.no_grad():
                    for start in range(0, test.shape[0], batch):
                        t = test[start:start + batch]
                        logits, mu, logvar = model(t)
                        test_loss += (F.binary_cross_entropy_with_logits(logits, t, reduction="sum")
                                      - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())).item()
    ended = time.perf_counter()
    print(json.dumps({
        "torch": torch.__version__, "threads": threads, "steps": steps, "test_passes": test_passes,
        "loop_samples_per_second": samples / (ended - loop_started),
        "process_samples_per_second": samples / (ended - started),
        "last_loss_per_sample": loss.item() / x.shape[0],
    }))


main()
