"""Python interop: load a vae-dist checkpoint with `safetensors` (numpy), check the PyTorch example's names and
shapes, decode fixed z in numpy and compare with `vae-dist sample --latent-file … --raw-out …`.

    python3 Tests/python/interop.py VAE_DIST_BINARY CHECKPOINT WORK_FOLDER
"""
import subprocess, sys
import numpy as np
from safetensors.numpy import load_file

binary, checkpoint, work = sys.argv[1:4]
tensors = load_file(checkpoint)
model = {k: v for k, v in tensors.items() if not k.startswith("adam.")}
expected = {"fc1.weight": (400, 784), "fc1.bias": (400,), "fc21.weight": (20, 400), "fc21.bias": (20,),
            "fc22.weight": (20, 400), "fc22.bias": (20,), "fc3.weight": (400, 20), "fc3.bias": (400,),
            "fc4.weight": (784, 400), "fc4.bias": (784,)}
assert {k: v.shape for k, v in model.items()} == expected, {k: v.shape for k, v in model.items()}
assert all(v.dtype == np.float32 for v in tensors.values())
assert set(tensors) == set(model) | {f"adam.exp_avg.{k}" for k in model} | {f"adam.exp_avg_sq.{k}" for k in model}

z = np.random.default_rng(7).standard_normal((5, 20)).astype(np.float32)
z.astype("<f4").tofile(f"{work}/z.bin")
subprocess.run([binary, "sample", "--checkpoint", checkpoint, "--count", "5", "--latent-file", f"{work}/z.bin",
                "--raw-out", f"{work}/x.bin"], check=True)
ours = np.fromfile(f"{work}/x.bin", dtype="<f4").reshape(5, 784)
h = np.maximum(z @ model["fc3.weight"].T + model["fc3.bias"], 0)
theirs = 1 / (1 + np.exp(-(h @ model["fc4.weight"].T + model["fc4.bias"])))
worst = float(np.abs(ours - theirs).max())
assert worst < 1e-5, worst
print(f"interop ok: 10 model tensors with the PyTorch example's names and shapes; decode matches numpy (max |diff| {worst:.2e})")
