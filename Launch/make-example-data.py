#!/usr/bin/env python3
"""Example data sets in NPY for `vae-dist --data FOLDER` (each folder holds train.npy and test.npy).

    Launch/make-example-data.py images32 OUT   # 32x32 uint8 images (rings and strokes), 2,000 + 400
    Launch/make-example-data.py tabular OUT    # 50-feature float32 rows from a 5-factor Gaussian, 4,000 + 800
    Launch/make-example-data.py tabular-shards OUT  # the same rows: OUT/train/part-0000..0003.npy + OUT/test.npy

Your own arrays go the same way: numpy.save("train.npy", x_train); numpy.save("test.npy", x_test), with the
samples along the first axis (uint8 images are read as grey levels x/255, floats as they are).
"""
import sys

import numpy as np


def images32(n, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:32].astype(np.float32)
    out = np.zeros((n, 32, 32), dtype=np.uint8)
    for i in range(n):
        cx, cy = 15.5 + 4 * (rng.random(2) - 0.5)
        radius = 4 + 8 * rng.random()
        distance = np.abs(np.hypot(x - cx, y - cy) - radius)
        out[i] = np.clip(255 * (1 - distance / 1.5), 0, 255).astype(np.uint8)
    return out


def tabular(n, seed):
    rng = np.random.default_rng(seed)
    loadings = np.random.default_rng(0).normal(size=(5, 50)).astype(np.float32)
    factors = rng.normal(size=(n, 5)).astype(np.float32)
    return (factors @ loadings + 0.1 * rng.normal(size=(n, 50))).astype(np.float32)


def main():
    kind, out = sys.argv[1], sys.argv[2]
    import os
    os.makedirs(out, exist_ok=True)
    if kind == "tabular-shards":
        os.makedirs(os.path.join(out, "train"), exist_ok=True)
        for i, shard in enumerate(np.array_split(tabular(4000, 1), 4)):
            np.save(os.path.join(out, "train", f"part-{i:04d}.npy"), shard)
        np.save(os.path.join(out, "test.npy"), tabular(800, 2))
        print(f"wrote {out}/train/part-0000..0003.npy and {out}/test.npy")
        return
    make, counts = {"images32": (images32, (2000, 400)), "tabular": (tabular, (4000, 800))}[kind]
    np.save(os.path.join(out, "train.npy"), make(counts[0], 1))
    np.save(os.path.join(out, "test.npy"), make(counts[1], 2))
    print(f"wrote {out}/train.npy and {out}/test.npy")


if __name__ == "__main__":
    main()
