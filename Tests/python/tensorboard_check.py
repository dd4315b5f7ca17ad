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
# The HPARAMS tab: the hparams plugin's experiment, session start (every setting of config.json) and end.
from tensorboard.plugins.hparams import metadata
content = events.PluginTagToContent("hparams")
experiment = metadata.parse_experiment_plugin_data(content["_hparams_/experiment"])
start = metadata.parse_session_start_info_plugin_data(content["_hparams_/session_start_info"])
end = metadata.parse_session_end_info_plugin_data(content["_hparams_/session_end_info"])
config = json.load(open(f"{run}/config.json"))
settings = {f"{section}.{key}": value for section, table in config.items() for key, value in table.items()}
assert set(start.hparams) == set(settings) == {h.name for h in experiment.hparam_infos}, set(settings) ^ set(start.hparams)
for name, value in settings.items():
    stored = start.hparams[name]
    kind = stored.WhichOneof("kind")
    if isinstance(value, bool):
        assert kind == "bool_value" and stored.bool_value == value, (name, stored)
    elif isinstance(value, (int, float)):
        assert kind == "number_value" and abs(stored.number_value - value) <= 1e-7 * abs(value), (name, stored)
    elif isinstance(value, str):
        assert kind == "string_value" and stored.string_value == value, (name, stored)
    else:
        assert kind == "string_value" and json.loads(stored.string_value) == value, (name, stored)
assert {m.name.tag for m in experiment.metric_infos} >= {"test/loss", "epoch/train_loss"}, experiment.metric_infos
assert end.status == 1, end  # STATUS_SUCCESS
print(f"tensorboard ok: {len(logged)} train/loss points and {len(test)} test/loss points match metrics.jsonl; "
      f"{len(events.Images('samples'))} sample grids; {len(start.hparams)} hyperparameters as in config.json")
