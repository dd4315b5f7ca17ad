"""Reads a run folder's TensorBoard event file with the `tensorboard` package and checks it against metrics.jsonl.

    python3 Tests/python/tensorboard_check.py RUN_DIR
"""
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run = sys.argv[1]
events = EventAccumulator(run, size_guidance={"scalars": 0, "images": 0})
events.Reload()
tags = events.Tags()
for tag in ["train/loss", "train/reconstruction", "train/kl", "train/learning_rate", "train/samples_per_second",
            "test/loss", "test/reconstruction", "test/kl", "epoch/train_loss"]:
    assert tag in tags["scalars"], (tag, tags)
records = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
steps = [r for r in records if r["type"] == "step"]
epochs = [r for r in records if r["type"] == "epoch"]
logged = events.Scalars("train/loss")
assert [e.step for e in logged] == [r["global_step"] for r in steps], "steps differ"
for e, r in zip(logged, steps):
    assert abs(e.value - r["loss"]) <= 1e-5 * abs(r["loss"]), (e.value, r["loss"])
test = events.Scalars("test/loss")
assert [e.step for e in test] == [r["global_step"] for r in epochs]
for e, r in zip(test, epochs):
    assert abs(e.value - r["test_loss"]) <= 1e-5 * abs(r["test_loss"]), (e.value, r["test_loss"])
for tag, size in [("reconstructions", (224, 56)), ("samples", (224, 224))]:
    images = events.Images(tag)
    assert len(images) == len(epochs), (tag, len(images))
    assert (images[0].width, images[0].height) == size, (tag, images[0].width, images[0].height)
    assert images[0].encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"
print(f"tensorboard ok: {len(logged)} train/loss points and {len(test)} test/loss points match metrics.jsonl; "
      f"{len(events.Images('samples'))} sample grids")
