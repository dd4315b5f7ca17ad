"""The PyTorch twin of a vae-dist model of layer lists, built from the same configuration JSON, with the same tensor
names: `encoder` and `decoder` are `nn.Sequential`s of the lists (activations and reshapes count as modules), the
heads `fc_mu` and `fc_logvar`. `torch.load_state_dict(strict=True)` takes a `vae-dist export` of the model, and
`vae-dist train --init-from` takes this module's `state_dict()` (saved with safetensors).

    import json, vae_twin
    model = vae_twin.Twin(json.load(open("Config/mnist-conv.json"))["model"])
    mu, logvar = model.encode(x)                # x: [N, C, H, W] or [N, D]
    logits = model.decode(z)                    # [N, C·H·W]: the likelihood's parameters, flat

Only the layer lists are built here (the MLP shorthand is the PyTorch example's module, fc1/fc21/fc22/fc3/fc4).
"""
import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def build(layers, shape):
    """An nn.Sequential of `layers` (vae-dist's JSON) for inputs of `shape` (one sample's), and its output shape."""
    modules = []
    for entry in layers:
        if isinstance(entry, str):
            if entry == "flatten":
                modules.append(nn.Flatten())
                count = 1
                for size in shape:
                    count *= size
                shape = [count]
            elif entry == "leaky_relu":
                modules.append(nn.LeakyReLU(0.01))
            else:
                modules.append(ACTIVATIONS[entry]())
            continue
        (kind, body), = entry.items()
        if kind == "linear":
            modules.append(nn.Linear(shape[0], body["out"]))
            shape = [body["out"]]
        elif kind in ("conv2d", "conv_transpose2d"):
            k, s, p = body["kernel"], body.get("stride", 1), body.get("padding", 0)
            if kind == "conv2d":
                modules.append(nn.Conv2d(shape[0], body["out"], k, stride=s, padding=p))
                size = [(n + 2 * p - k) // s + 1 for n in shape[1:]]
            else:
                op = body.get("output_padding", 0)
                modules.append(nn.ConvTranspose2d(shape[0], body["out"], k, stride=s, padding=p, output_padding=op))
                size = [(n - 1) * s - 2 * p + k + op for n in shape[1:]]
            shape = [body["out"]] + size
        elif kind == "leaky_relu":
            modules.append(nn.LeakyReLU(body.get("slope", 0.01)))
        elif kind == "unflatten":
            modules.append(nn.Unflatten(1, tuple(body)))
            shape = list(body)
        elif kind == "group_norm":
            modules.append(nn.GroupNorm(body["groups"], shape[0]))
        else:
            raise ValueError(f"unknown layer {kind}")
    return nn.Sequential(*modules), shape


class Twin(nn.Module):
    """vae-dist's VAE of layer lists: encoder → fc_mu, fc_logvar → z → decoder (the likelihood's parameters)."""

    def __init__(self, model):
        super().__init__()
        self.input_shape = list(model["input_shape"])
        latent = model.get("latent_size", 20)
        self.encoder, features = build(model["encoder"], self.input_shape)
        self.fc_mu = nn.Linear(features[0], latent)
        self.fc_logvar = nn.Linear(features[0], latent)
        self.decoder, _ = build(model["decoder"], [latent])

    def encode(self, x):
        h = self.encoder(x.reshape(-1, *self.input_shape))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z):
        return self.decoder(z).reshape(z.shape[0], -1)

    def forward(self, x, eps):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decode(z), mu, logvar
