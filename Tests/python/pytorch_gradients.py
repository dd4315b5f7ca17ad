"""PyTorch's own autograd on the default MLP VAE, written down for the Swift test that compares vae-dist's hand-written
backward with it tensor by tensor (llm.c's debug-state idea): Launch/pytorch-gradients.sh runs this once, in a
throwaway venv, and the JSON it writes is committed; CI never installs torch.

Everything is deterministic and exact in float32 on both sides: weights, the batch and ε come from integer formulas
(the Swift test computes the same values), so the fixture holds only PyTorch's results: the loss terms and, per
tensor, the gradient's sum of squares and its values at ~1000 evenly spaced indices (every value for small tensors).

    python3 Tests/python/pytorch_gradients.py OUT.json [CONFIG.json OUT-LAYERS.json [OUT-IWAE-VAMP.json]]

With a configuration of layer lists (Config/mnist-conv.json) it also writes that model's case: the twin built by
vae_twin.py, each tensor (in state_dict order, which is vae-dist's buffer order) from the same formulas, the fan-in
being the weight's values per output. With a fourth path it writes the default model trained on the IWAE bound
(K = 3) against a VampPrior (4 pseudo-inputs, u[i] = (i·17 mod 256)/255): the objective and prior rooms' case.
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


def summary(named):
    """Per tensor: the count, the gradient's sum of squares and its values at ~1000 evenly spaced indices."""
    gradients = {}
    for name, tensor in named:
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
    return gradients


def layers_case(config_path, out_path):
    """The layer-list model of `config_path` (its PyTorch twin), batch 4, loss = BCE sum + KL."""
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import vae_twin
    with open(config_path) as f:
        model_json = json.load(f)["model"]
    model = vae_twin.Twin(model_json)
    names = [name for name, _ in model.named_parameters()]
    with torch.no_grad():
        for number in range(len(names) // 2):
            w, b = dict(model.named_parameters())[names[2 * number]], dict(model.named_parameters())[names[2 * number + 1]]
            fan = w.numel() // w.shape[0]
            values = [((i * 7919 + number * 104729) % 2001 - 1000) / 1000.0 / math.sqrt(fan) for i in range(w.numel())]
            w.copy_(torch.tensor(values, dtype=torch.float64).to(torch.float32).reshape(w.shape))
            b.copy_(bias(number, b.numel()))
    inputs = 1
    for size in model.input_shape:
        inputs *= size
    latent = model.fc_mu.out_features
    x = torch.tensor([((i * 31) % 256) / 255.0 for i in range(BATCH * inputs)], dtype=torch.float64).to(torch.float32)
    x = x.reshape(BATCH, inputs)
    eps = torch.tensor([((i * 7) % 13 - 6) / 4.0 for i in range(BATCH * latent)], dtype=torch.float32).reshape(BATCH, latent)
    logits, mu, logvar = model(x, eps)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    (reconstruction + kl).backward()
    fixture = {
        "about": "PyTorch " + torch.__version__ + " autograd on the twin of " + config_path + " (vae_twin.py), batch 4; "
        "weights, batch and eps from Tests/python/pytorch_gradients.py's formulas",
        "reconstruction": reconstruction.item(), "kl": kl.item(), "gradients": summary(model.named_parameters()),
    }
    with open(out_path, "w") as out:
        json.dump(fixture, out, separators=(",", ":"))
    print(f"wrote {out_path}: loss {reconstruction.item():.4f} + {kl.item():.4f}, {len(fixture['gradients'])} tensors")


def iwae_vamp_case(out_path, samples=3, components=4):
    """The default MLP, loss = −Σ_i L_K(x_i), log w_k = −BCE(x_i, z_ik) − (log q(z_ik|x_i) − log p(z_ik)), p the
    mixture of the encoder's posteriors at the pseudo-inputs; ε row i·K + k from the formula."""
    params = {}
    for layer, (name, outputs, inputs) in enumerate(SHAPES):
        params[f"{name}.weight"] = weight(layer, outputs, inputs).requires_grad_()
        params[f"{name}.bias"] = bias(layer, outputs).requires_grad_()
    u = torch.tensor([((i * 17) % 256) / 255.0 for i in range(components * INPUT)], dtype=torch.float64)
    u = u.to(torch.float32).reshape(components, INPUT).requires_grad_()
    x = torch.tensor([((i * 31) % 256) / 255.0 for i in range(BATCH * INPUT)], dtype=torch.float64).to(torch.float32)
    x = x.reshape(BATCH, INPUT)
    eps = torch.tensor([((i * 7) % 13 - 6) / 4.0 for i in range(BATCH * samples * LATENT)], dtype=torch.float32)
    eps = eps.reshape(BATCH, samples, LATENT)
    p = params

    def encode(v):
        h = F.relu(F.linear(v, p["fc1.weight"], p["fc1.bias"]))
        return F.linear(h, p["fc21.weight"], p["fc21.bias"]), F.linear(h, p["fc22.weight"], p["fc22.bias"])

    mu, logvar = encode(x)
    mu_u, logvar_u = encode(u)
    z = mu[:, None, :] + torch.exp(0.5 * logvar)[:, None, :] * eps
    logits = F.linear(F.relu(F.linear(z, p["fc3.weight"], p["fc3.bias"])), p["fc4.weight"], p["fc4.bias"])
    bce = F.binary_cross_entropy_with_logits(logits, x[:, None, :].expand_as(logits), reduction="none").sum(-1)
    log_two_pi = math.log(2 * math.pi)
    log_q = (-0.5 * (log_two_pi + logvar[:, None, :] + eps * eps)).sum(-1)
    difference = z[:, :, None, :] - mu_u[None, None, :, :]
    a = (-0.5 * (log_two_pi + logvar_u[None, None] + difference * difference / logvar_u.exp()[None, None])).sum(-1)
    log_p = torch.logsumexp(a, dim=-1) - math.log(components)
    log_w = -bce - (log_q - log_p)
    loss = -(torch.logsumexp(log_w, dim=1) - math.log(samples)).sum()
    loss.backward()
    named = list(params.items())
    named = named[:6] + [("prior.pseudo_inputs", u)] + named[6:]
    fixture = {
        "about": "PyTorch " + torch.__version__ + " autograd on the default VAE trained on the IWAE bound (K = 3) with a "
        "VampPrior (4 pseudo-inputs), batch 4; weights, batch, pseudo-inputs and eps from "
        "Tests/python/pytorch_gradients.py's formulas",
        "loss": loss.item(), "reconstruction": bce.mean(1).sum().item(), "kl": (log_q - log_p).mean(1).sum().item(),
        "gradients": summary(named),
    }
    with open(out_path, "w") as out:
        json.dump(fixture, out, separators=(",", ":"))
    print(f"wrote {out_path}: loss {loss.item():.4f}, {len(fixture['gradients'])} tensors")


def main():
    torch.set_num_threads(1)
    if len(sys.argv) >= 4:
        layers_case(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 5:
        iwae_vamp_case(sys.argv[4])
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
    gradients = summary(params.items())
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
