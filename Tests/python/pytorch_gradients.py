"""PyTorch's own autograd on the default MLP VAE, written down for the Swift test that compares vae-dist's hand-written
backward with it tensor by tensor (llm.c's debug-state idea): Launch/pytorch-gradients.sh runs this once, in a
throwaway venv, and the JSON it writes is committed; CI never installs torch.

Everything is deterministic and exact in float32 on both sides: weights, the batch and ε come from integer formulas
(the Swift test computes the same values), so the fixture holds only PyTorch's results: the loss terms and, per
tensor, the gradient's sum of squares and its values at ~1000 evenly spaced indices (every value for small tensors).

    python3 Tests/python/pytorch_gradients.py OUT.json
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

BATCH, INPUT, HIDDEN, LATENT = 4, 784, 400, 20
SHAPES = [("fc1", HIDDEN, INPUT), ("fc21", LATENT, HIDDEN), ("fc22", LATENT, HIDDEN), ("fc3", HIDDEN, LATENT),
          ("fc4", INPUT, HIDDEN)]


def weight(layer, outputs, inputs):
    """w[i] = ((i·7919 + layer·104729) mod 2001 − 1000) / 1000 / √inputs, in float64 then float32."""
    values = [((i * 7919 + layer * 104729) % 2001 - 1000) / 1000.0 / math.sqrt(inputs) for i in range(outputs * inputs)]
    return torch.tensor(values, dtype=torch.float64).to(torch.float32).reshape(outputs, inputs)


def bias(layer, outputs):
    values = [((i * 131 + layer * 17) % 201 - 100) / 1000.0 for i in range(outputs)]
    return torch.tensor(values, dtype=torch.float64).to(torch.float32)


def main():
    torch.set_num_threads(1)
    params = {}
    for layer, (name, outputs, inputs) in enumerate(SHAPES):
        params[f"{name}.weight"] = weight(layer, outputs, inputs).requires_grad_()
        params[f"{name}.bias"] = bias(layer, outputs).requires_grad_()
    x = torch.tensor([((i * 31) % 256) / 255.0 for i in range(BATCH * INPUT)], dtype=torch.float64).to(torch.float32)
    x = x.reshape(BATCH, INPUT)
    eps = torch.tensor([((i * 7) % 13 - 6) / 4.0 for i in range(BATCH * LATENT)], dtype=torch.float32).reshape(BATCH, LATENT)
    p = params
    h1 = F.relu(F.linear(x, p["fc1.weight"], p["fc1.bias"]))
    mu, logvar = F.linear(h1, p["fc21.weight"], p["fc21.bias"]), F.linear(h1, p["fc22.weight"], p["fc22.bias"])
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = F.linear(F.relu(F.linear(z, p["fc3.weight"], p["fc3.bias"])), p["fc4.weight"], p["fc4.bias"])
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    (reconstruction + kl).backward()
    gradients = {}
    for name, tensor in params.items():
        flat = tensor.grad.detach().reshape(-1).to(torch.float64)
        count = flat.numel()
        stride = max(1, count // 1000)
        indices = list(range(0, count, stride))
        if indices[-1] != count - 1:
            indices.append(count - 1)
        gradients[name] = {
            "count": count, "sum_of_squares": float((flat * flat).sum()),
            "indices": indices, "values": [float(flat[i]) for i in indices],
        }
    fixture = {
        "about": "PyTorch " + torch.__version__ + " autograd on the default VAE (784-400-20-400-784, ReLU, Bernoulli "
        "logits, loss = BCE sum + KL), batch 4; weights, batch and eps from Tests/python/pytorch_gradients.py's formulas",
        "reconstruction": reconstruction.item(), "kl": kl.item(), "gradients": gradients,
    }
    with open(sys.argv[1], "w") as out:
        json.dump(fixture, out, separators=(",", ":"))
    print(f"wrote {sys.argv[1]}: loss {reconstruction.item():.4f} + {kl.item():.4f}, {len(gradients)} tensors")


if __name__ == "__main__":
    main()
