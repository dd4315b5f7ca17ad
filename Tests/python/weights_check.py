"""Weights in and out of vae-dist, as a PyTorch user moves them:

1. in: a state_dict written with the Python `safetensors` package (numpy arrays named as the example's module,
   metadata {"format": "pt"} as `safetensors.torch.save_file` writes) initializes `vae-dist train --init-from`;
   the run's first loss equals a numpy forward pass on the same batch. The log-variance head is set to
   log σ² = -30 (zero weights, bias -30), so z = μ + σ·ε differs from μ by ~3e-7·ε and the numpy pass needs no ε.
2. out: `vae-dist export` writes the model tensors alone, with the example module's keys and shapes, so
   `load_state_dict(strict=True)` takes them without key filtering (the real call when torch is installed; else
   the check strict=True makes: the same key set, the same shapes, float32).

    python3 Tests/python/weights_check.py VAE_DIST_BINARY WORK_FOLDER
"""
import json, os, subprocess, sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

binary, work = sys.argv[1:3]
os.makedirs(f"{work}/data", exist_ok=True)
rng = np.random.default_rng(11)
features, hidden, latent, rows = 16, 8, 3, 64
np.save(f"{work}/data/train.npy", rng.random((rows, features), dtype=np.float32))
np.save(f"{work}/data/test.npy", rng.random((16, features), dtype=np.float32))


def linear(out_features, in_features):
    bound = 1 / np.sqrt(in_features)
    return (rng.uniform(-bound, bound, (out_features, in_features)).astype(np.float32),
            rng.uniform(-bound, bound, out_features).astype(np.float32))


state = {}
for name, (o, i) in {"fc1": (hidden, features), "fc21": (latent, hidden), "fc3": (hidden, latent),
                     "fc4": (features, hidden)}.items():
    state[f"{name}.weight"], state[f"{name}.bias"] = linear(o, i)
state["fc22.weight"] = np.zeros((latent, hidden), np.float32)
state["fc22.bias"] = np.full(latent, -30, np.float32)
state["prior.unused_buffer"] = np.arange(4, dtype=np.int64)  # not the model's: ignored
save_file(state, f"{work}/state_dict.safetensors", metadata={"format": "pt"})

model_flags = ["--set", f"model.encoder_hidden=[{hidden}]", "--set", f"model.latent_size={latent}",
               "--set", f"model.decoder_hidden=[{hidden}]"]
subprocess.run([binary, "train", "--data", f"{work}/data", "--init-from", f"{work}/state_dict.safetensors",
                "--batch-size", str(rows), "--max-steps", "1", "--log-every", "1", "--blas-threads", "1",
                "--run-dir", f"{work}/run"] + model_flags, check=True, stdout=subprocess.DEVNULL)
records = [json.loads(line) for line in open(f"{work}/run/metrics.jsonl")]
init = next(r for r in records if r["type"] == "init_from")
assert init["path"].endswith("state_dict.safetensors") and init["unused_tensors"] == 1, init
first = next(r for r in records if r["type"] == "step")

# The numpy forward pass of the whole batch (the batch is the training set), in float64.
x = np.load(f"{work}/data/train.npy").astype(np.float64)
p = {k: v.astype(np.float64) for k, v in state.items() if k.startswith("fc")}
h = np.maximum(x @ p["fc1.weight"].T + p["fc1.bias"], 0)
mu, logvar = h @ p["fc21.weight"].T + p["fc21.bias"], h @ p["fc22.weight"].T + p["fc22.bias"]
logits = np.maximum(mu @ p["fc3.weight"].T + p["fc3.bias"], 0) @ p["fc4.weight"].T + p["fc4.bias"]
reconstruction = (np.logaddexp(0, logits) - x * logits).sum() / rows  # Bernoulli −log p(x|z), logits form
kl = -0.5 * (1 + logvar - mu ** 2 - np.exp(logvar)).sum() / rows
for key, theirs in [("reconstruction", reconstruction), ("kl", kl), ("loss", reconstruction + kl)]:
    ours = first[key]
    assert abs(ours - theirs) <= 1e-5 * abs(theirs), (key, ours, theirs)

# Out: the exported model has exactly the module's state_dict keys and shapes, and the checkpoint's values.
checkpoint = f"{work}/run/checkpoint-step-000000001.safetensors"
subprocess.run([binary, "export", checkpoint, "--out", f"{work}/exported.safetensors"], check=True,
               stdout=subprocess.DEVNULL)
exported, stored = load_file(f"{work}/exported.safetensors"), load_file(checkpoint)
module = {"fc1": (hidden, features), "fc21": (latent, hidden), "fc22": (latent, hidden), "fc3": (hidden, latent),
          "fc4": (features, hidden)}
expected = {f"{n}.weight": s for n, s in module.items()} | {f"{n}.bias": (s[0],) for n, s in module.items()}
assert {k: v.shape for k, v in exported.items()} == expected, {k: v.shape for k, v in exported.items()}
assert all(v.dtype == np.float32 and np.array_equal(v, stored[k]) for k, v in exported.items())
with safe_open(f"{work}/exported.safetensors", "np") as f:
    assert f.metadata()["format"] == "pt", f.metadata()

try:
    import torch
    from safetensors.torch import load_file as torch_load_file

    class VAE(torch.nn.Module):  # the PyTorch example's module, at this test's widths
        def __init__(self):
            super().__init__()
            self.fc1, self.fc21 = torch.nn.Linear(features, hidden), torch.nn.Linear(hidden, latent)
            self.fc22, self.fc3 = torch.nn.Linear(hidden, latent), torch.nn.Linear(latent, hidden)
            self.fc4 = torch.nn.Linear(hidden, features)

    VAE().load_state_dict(torch_load_file(f"{work}/exported.safetensors"), strict=True)
    how = "torch load_state_dict(strict=True)"
except ImportError:
    how = "the keys and shapes strict=True requires (torch not installed)"
print(f"weights ok: --init-from first loss {first['loss']:.6f} = numpy {reconstruction + kl:.6f}; "
      f"export loads by {how}")
