"""Config validation: clear errors naming the key, before anything runs."""
import json

import pytest

from laf.errors import UserError
from pipeline import config


@pytest.fixture()
def data_dir(tmp_path):
    (tmp_path / "videos.csv").write_text("video,label\n")
    (tmp_path / "images").mkdir()
    return tmp_path


def _write(tmp_path, raw, name="c.yaml"):
    import yaml

    p = tmp_path / name
    p.write_text(json.dumps(raw) if name.lower().endswith(".json") else yaml.safe_dump(raw))
    return str(p)


def test_valid_yaml_and_json_resolve_relative_paths(data_dir):
    raw = {"data": {"videos": "videos.csv", "images": "images"}, "domain_transfer": {"theta1": 0.2},
           "pipeline_root": "out/root", "trainer": {"learning_rate": 0.002}}
    for name in ("c.yaml", "c.json", "C.JSON"):  # an upper-case .JSON was read as YAML, which refuses JSON's 2e-3
        path = _write(data_dir, raw, name)
        if name != "c.yaml":
            open(path, "w").write(json.dumps(raw).replace("0.002", "2e-3"))
        cfg = config.load(path)
        assert cfg.trainer.learning_rate == 0.002
        assert cfg.data.videos == str(data_dir / "videos.csv")
        assert cfg.pipeline_root == str(data_dir / "out" / "root")
        assert cfg.domain_transfer.theta1 == 0.2 and cfg.trainer.cells == 1024
        assert cfg.metadata_path.endswith("metadata.sqlite")
        assert cfg.data.allow_private_addresses is False  # image URLs on local hosts are refused by default


def test_home_and_variables_in_paths_are_expanded_as_a_shell_would(data_dir, monkeypatch):
    monkeypatch.setenv("HOME", str(data_dir / "home"))
    monkeypatch.setenv("LAF_DATA", str(data_dir))
    raw = {"data": {"videos": "$LAF_DATA/videos.csv", "images": "${LAF_DATA}/images"},
           "pipeline_root": "~/laf/root", "serving_dir": "~/laf/serving"}
    cfg = config.load(_write(data_dir, raw))
    assert (cfg.data.videos, cfg.data.images) == (str(data_dir / "videos.csv"), str(data_dir / "images"))
    assert (cfg.pipeline_root, cfg.serving_dir) == (str(data_dir / "home" / "laf" / "root"),
                                                    str(data_dir / "home" / "laf" / "serving"))
    monkeypatch.setenv("BUCKET", "gs://b")
    assert config.load(_write(data_dir, {**raw, "pipeline_root": "$BUCKET/root"})).pipeline_root == "gs://b/root"
    monkeypatch.setenv("ODD", "/a$b")  # a value's own "$" is no variable of the path
    assert config.load(_write(data_dir, {**raw, "serving_dir": "$ODD/s"})).serving_dir == "/a$b/s"
    monkeypatch.delenv("LAF_DATA")
    with pytest.raises(UserError, match=r"c.yaml: data.videos: \$LAF_DATA/videos.csv names the environment variable"
                                        r" \$LAF_DATA, which is not set$"):
        config.load(_write(data_dir, raw))


def test_annotation_files_instead_of_a_manifest(data_dir):
    (data_dir / "thumos").mkdir()
    (data_dir / "thumos" / "A:x_val.txt").write_text("v1 1.0 2.0\n")
    (data_dir / "thumos" / "A:x_test.txt").write_text("v2 1.0 2.0\n")
    (data_dir / "clips").mkdir()
    (data_dir / "clips" / "v1.webm").write_bytes(b"")
    raw = {"data": {"annotations": "thumos", "video_dir": "clips", "subset": "val", "images": "images",
                    "split_ratios": {"train": 0, "eval": 1, "test": 0}}}
    cfg = config.load(_write(data_dir, raw))
    assert (cfg.data.videos, cfg.data.annotations, cfg.data.video_dir) == ("", str(data_dir / "thumos"),
                                                                         str(data_dir / "clips"))
    assert cfg.data.video_source == str(data_dir / "thumos") and cfg.data.subset == "val"
    [row] = cfg.data.read_videos().rows  # the val subset only, its video found whatever its extension
    assert (row.video_id, row.uri, row.label, row.split) == ("v1", str(data_dir / "clips" / "v1.webm"), "A:x", "eval")
    assert config.load(config.dump(cfg, str(data_dir / "dumped.yaml"))) == cfg
    (data_dir / "taxonomy.json").write_text('{"A": ["x"]}')
    raw["data"]["taxonomy"] = "taxonomy.json"
    assert config.load(_write(data_dir, raw)).data.taxonomy == str(data_dir / "taxonomy.json")
    raw["data"]["taxonomy"] = "nowhere.json"
    with pytest.raises(UserError, match=r"data.taxonomy: .*nowhere.json does not exist"):
        config.load(_write(data_dir, raw))


@pytest.mark.parametrize("data, message", [
    ({"images": "images"}, r"data.videos is required \(a manifest\), or data.annotations with data.video_dir"),
    ({"videos": "videos.csv", "annotations": "videos.csv", "images": "images"}, r"exclude each other"),
    ({"videos": "videos.csv", "subset": "val", "images": "images"}, r"exclude each other"),
    ({"annotations": "videos.csv", "images": "images"}, r"data.annotations needs data.video_dir"),
    ({"video_dir": "images", "images": "images"}, r"data.video_dir goes with data.annotations"),
    ({"subset": "val", "images": "images"}, r"data.subset goes with data.annotations"),
    ({"annotations": "missing", "video_dir": "images", "images": "images"}, r"data.annotations: .*missing does not"),
    ({"annotations": "videos.csv", "video_dir": "nowhere", "images": "images"}, r"data.video_dir: .*nowhere does not"),
    ({"videos": "videos.csv"}, r"data.images is required"),
])
def test_where_the_videos_are_listed_is_checked(data_dir, data, message):
    with pytest.raises(UserError, match=message):
        config.load(_write(data_dir, {"data": data}))


@pytest.mark.parametrize("patch, message", [
    ({"domain_transfer": {"theta1": 1.5}}, r"domain_transfer.theta1 must be a number in \[0, 1\]"),
    ({"domain_transfer": {"theta1": "high"}}, r"domain_transfer.theta1 must be float, got 'high'"),
    ({"domain_transfer": {"theta2": 1.0, "min_frames_per_class": 0}},
     r"domain_transfer.theta2 1 keeps no row .* domain_transfer.min_frames_per_class 0 keeps none"),
    ({"trainer": {"variant": "transformer"}}, r"trainer.variant must be one of"),
    ({"trainer": {"lr_schedule": "linear"}}, r"trainer.lr_schedule must be one of plateau, cosine"),
    ({"evaluation": {"protocol": "coco"}}, r"evaluation.protocol must be one of activitynet, thumos14, got 'coco'"),
    ({"trainer": {"cells": 0}}, r"trainer.cells must be > 0"),
    ({"trainer": {"lr_decay_factor": 1.0}}, r"trainer.lr_decay_factor must be a number in \(0, 1\), got 1.0"),
    ({"trainer": {"lr_decay_factor": 0}}, r"trainer.lr_decay_factor must be a number in \(0, 1\)"),
    ({"trainer": {"celss": 3}}, r"trainer.celss is not a known setting"),
    ({"trainer": {"cnn_dropout": 1.0}}, r"trainer.cnn_dropout must be a number in \[0, 0.99\], got 1.0"),
    ({"features": {"backbone": "vgg"}}, r"features.backbone must be one of"),
    ({"data": {"videos": "missing.csv", "images": "images"}}, r"data.videos: .*missing.csv does not exist"),
    ({"data": {"split_ratios": {"train": 0.5, "eval": 0.1, "test": 0.1}}}, r"sum to 1"),
    ({"evaluation": {"tiou": [0.1, 2]}}, r"evaluation.tiou\[1\]"),
    ({"evaluation": {"tiou": [0.0]}}, r"evaluation.tiou\[0\] must be a number in \(0, 1\], got 0.0"),
    ({"evaluation": {"scales": [1.0, 0]}}, r"evaluation.scales\[1\] must be > 0"),
    ({"evaluation": {"scales": []}}, r"evaluation.scales: give at least one window length"),
    ({"evaluation": {"run_thresholds": [0.5, 0]}}, r"evaluation.run_thresholds\[1\] must be > 0"),
    ({"evaluation": {"run_thresholds": [1.5]}}, r"evaluation.run_thresholds\[0\] must be a number in \[0, 1\]"),
    ({"data": {"allow_private_addresses": "yes"}}, r"data.allow_private_addresses must be bool, got 'yes'"),
    ({"evaluation": {"top_k_classes": 0}}, r"evaluation.top_k_classes must be > 0, got 0"),
    ({"evaluation": {"tiou": []}}, r"evaluation.tiou: give at least one tIoU threshold"),
    ({"evaluation": {"tiou": [0.5, 0.3, 0.5]}}, r"evaluation.tiou: a threshold is given twice.*: \[0.5, 0.3, 0.5\]"),
    ({"trainer": {"optimizer": "bogus"}}, r"trainer.optimizer must be one of .*sgd, got 'bogus'"),
    ({"features": {"input_size": 16}}, r"features.input_size must be >= 32 pixels for mobilenet_v3_small, got 16"),
    ({"features": {"backbone": "inception_v3", "input_size": 40}},  # Keras refused it once TF had loaded
     r"features.input_size must be >= 75 pixels for inception_v3, got 40"),
    ({"domain_transfer": {"hidden_units": []}}, r"domain_transfer.hidden_units: give at least one layer size"),
    ({"domain_transfer": {"hidden_units": [64, 0]}}, r"domain_transfer.hidden_units\[1\] must be > 0"),
    ({"domain_transfer": {"min_images_per_class": -1}}, r"domain_transfer.min_images_per_class must be >= 0"),
    ({"trainer": {"seed": -1}}, r"trainer.seed must be an integer in \[0, 2\*\*32 - 1\], got -1"),
    ({"domain_transfer": {"seed": 2 ** 32}}, r"domain_transfer.seed must be an integer in \[0, 2\*\*32 - 1\]"),
    ({"beam": {"direct_num_workers": -3}}, r"beam.direct_num_workers must be >= 0 \(0: one per core\), got -3"),
    ({"pipeline_name": "x" * 64}, r"pipeline_name must have 1-63 characters \(TFX's limit\), got 64"),
    ({"pipeline_name": ""}, r"pipeline_name must have 1-63 characters"),
    ({"pipeline_root": " "}, r"pipeline_root must not be empty"),
    ({"serving_dir": ""}, r"serving_dir must not be empty"),
    ({"features": {"weights": ""}}, r"features.weights must be imagenet, none or a weights file, got ''"),
    ({"domain_transfer": {"theta1": 10 ** 400}}, r"domain_transfer.theta1 must be a finite number, got 1000000.*"
                                                r" \(401 characters\)"),
    ({"trainer": {"learning_rate": "1e-3"}}, r"trainer.learning_rate must be float, got the text '1e-3': a number is"
                                            r" written without quotes, and YAML 1.1 reads exponent notation only"
                                            r" with a dot and a signed exponent: 1.0e-3$"),
    ({"trainer": {"learning_rate": "0.5"}}, r"must be float, got the text '0.5': a number is written without quotes$"),
    ({"trainer": {"epochs": "7"}}, r"trainer.epochs must be int, got the text '7': a number is written without quotes$"),
    ({"trainer": {"epochs": 10 ** 30}}, r"trainer.epochs must be an integer of 64 bits, got 1000000"),
    ({"trainer": {"lr_schedule": "Plateau", "lr_decay_factor": 0.5}}, r"trainer.lr_schedule must be one of"),
    ({"beam": {"ingest_args": ["--runner=DaskRunner", "--dask_connection_timeout=2.5"]}},
     r"beam.ingest_args: --dask_connection_timeout must be whole seconds, got '2.5'"),  # Beam would wait Dask's default instead
    ({"beam": {"extra_args": ["--dask_connection_timeout=abc"]}},  # was said to be beam.ingest_args'
     r"beam.extra_args: --dask_connection_timeout must be whole seconds, got 'abc'"),
    ({"beam": {"extra_args": ["--runner"]}}, r"beam.extra_args: Beam options: argument --runner: expected one argument"),
    ({"beam": {"ingest_args": ["--runner"]}}, r"beam.ingest_args: Beam options: argument --runner: expected one"),
    ({"beam": {"extra_args": ["--runner DataflowRunner"]}},  # Beam dropped it: a local run on the DirectRunner
     r"beam.extra_args: Beam options: '--runner DataflowRunner' is one item .* write --runner=DataflowRunner or"),
    ({"beam": {"direct_num_workers": 4, "extra_args": ["--direct_num_workers=1"]}},  # the flag won, unsaid
     r"beam.direct_num_workers is 4, but beam.extra_args gives --direct_num_workers=1, which Beam reads after it"),
    ({"beam": {"direct_running_mode": "multi_processing", "extra_args": ["--direct_running_mode", "in_memory"]}},
     r"beam.direct_running_mode is multi_processing, but beam.extra_args gives --direct_running_mode=in_memory"),
    ({"beam": {"extra_args": [" --runner=DataflowRunner"]}},
     r"beam.extra_args: Beam options: ' --runner=DataflowRunner' starts with a space, so Beam would drop it; write"),
    ({"beam": {"ingest_args": ["--dask_client_address  tcp://h:8786"]}},
     r"beam.ingest_args: .* write --dask_client_address=tcp://h:8786 or give"),
    ({"data": {"images": "file:///no/such/images"}}, r"data.images: file:///no/such/images does not exist"),
    ({"trainer": {"variant": "random30"}}, r"trainer.variant random30 is one of the paper's baselines, which have no"
                                           r" actionness head .*set trainer.actionness: false"),
])
def test_bad_values_name_file_and_key(data_dir, patch, message):
    raw = {"data": {"videos": "videos.csv", "images": "images"}}
    for key, value in patch.items():
        if isinstance(value, dict):
            raw.setdefault(key, {}).update(value)
        else:
            raw[key] = value
    path = _write(data_dir, raw)
    with pytest.raises(UserError, match=message) as err:
        config.load(path)
    assert str(err.value).startswith(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        config.load(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        config.load(str(bad))


@pytest.mark.parametrize("name, content, where, words", [
    ("c.yaml", b"data:\n  videos: v.csv\n  images: caf\xe9\n", "c.yaml:3", "not UTF-8 text (byte 0xe9)"),
    ("c.yaml", b"a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\ndata: {videos: [x\n", "c.yaml:8", "not valid YAML"),
    ("c.yaml", b"a: 1\n  b: 2\n", "c.yaml:2", "not valid YAML: mapping values are not allowed"),
    ("c.json", b'{"data":\n {"videos": }}', "c.json:2", "not valid JSON: Expecting value"),
    # YAML 1.1 read these silently as seed 83, epochs 90 and [128]
    ("c.yaml", b"trainer:\n  seed: 0123\n", "c.yaml:2", "0123 is an octal number in YAML 1.1"),
    ("c.yaml", b"trainer:\n  epochs: 1:30\n", "c.yaml:2", "1:30 is a number in base 60 in YAML 1.1"),
    ("c.yaml", b"domain_transfer: {hidden_units: [0200]}\n", "c.yaml:1", "0200 is an octal number"),
])
def test_syntax_and_encoding_errors_name_file_and_line_in_one_line(tmp_path, name, content, where, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        config.load(str(path))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / where}: ") and words in message and "\n" not in message
    assert "<unicode string>" not in message


@pytest.mark.parametrize("name, content, message", [
    ("c.yaml", "trainer:\n  epochs: 7\ndata: {}\ntrainer:\n  cells: 64\n",
     "c.yaml:4: not valid YAML: trainer appears twice in one mapping (column 1)"),
    ("c.yaml", "trainer:\n  epochs: 7\n  epochs: 70\n", "c.yaml:3: not valid YAML: epochs appears twice"),
    ("c.json", '{"trainer": {"epochs": 7}, "trainer": {"cells": 64}}', "c.json: 'trainer' appears twice in one JSON"),
    ("c.yaml", "on: x\nfoo: y\n", "c.yaml: True is not a known setting"),  # YAML 1.1 reads `on` as True
    ("c.yaml", "[]\n", "c.yaml: config must be a mapping, got []"),
    ("c.yaml", "0\n", "c.yaml: config must be a mapping, got 0"),
])
def test_repeated_keys_odd_keys_and_a_config_that_is_no_mapping_are_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UserError) as err:
        config.load(str(path))
    assert str(err.value).startswith(f"{tmp_path}/{message}")


def test_a_plateau_setting_beside_a_cosine_schedule_is_said_to_be_unused_and_defaults_pass_quietly(data_dir, caplog):
    raw = {"data": {"videos": "videos.csv", "images": "images"},
           "trainer": {"lr_schedule": "cosine", "lr_decay_patience": 2}}
    with caplog.at_level("WARNING"):
        cfg = config.load(_write(data_dir, raw))
    assert cfg.trainer.lr_decay_patience == 2
    assert "trainer.lr_decay_patience is unused: it applies to lr_schedule: plateau only (a cosine" in caplog.text
    del raw["trainer"]["lr_decay_patience"]
    caplog.clear()
    with caplog.at_level("WARNING"):
        cfg = config.load(_write(data_dir, raw))
        assert config.load(config.dump(cfg, str(data_dir / "dumped.yaml"))) == cfg
    assert "unused" not in caplog.text


BASELINE = {"variant": "uniform", "actionness": False}


@pytest.mark.parametrize("trainer, evaluation, unused", [
    (BASELINE, {}, None),  # the baselines' own settings: quiet
    (BASELINE, {"scales": [0.5, 2.0]}, "evaluation.scales is unused: a model without actionness"),
    (BASELINE, {"run_thresholds": [0.3]}, "evaluation.run_thresholds is unused: a model without actionness"),
    ({"cnn_dropout": 0.2}, {}, "trainer.cnn_dropout is unused: it applies to variant cnn only"),
    ({"variant": "cnn", "actionness": False, "cells": 64}, {}, "trainer.cells is unused: variant cnn is the single"),
    ({"variant": "cnn", "actionness": False, "carry_across_videos": 1.0}, {},
     "trainer.carry_across_videos is unused: variant cnn keeps no state"),
])
def test_settings_the_chosen_model_never_reads_are_said_to_be_unused(data_dir, caplog, trainer, evaluation, unused):
    """Before, only the plateau settings beside a cosine schedule were said; these were ignored quietly."""
    raw = {"data": {"videos": "videos.csv", "images": "images"}, "trainer": trainer, "evaluation": evaluation}
    with caplog.at_level("WARNING"):
        config.load(_write(data_dir, raw))
    assert (unused in caplog.text) if unused else ("unused" not in caplog.text)


@pytest.mark.parametrize("beam, unused", [
    ({"direct_num_workers": 4}, True),  # Beam runs one worker in_memory and only logs it, deep in the run
    ({"direct_num_workers": 0}, True),
    ({"direct_num_workers": 4, "direct_running_mode": "multi_processing"}, False),
    ({"direct_running_mode": "multi_threading"}, False),
    ({"direct_num_workers": 4, "extra_args": ["--direct_running_mode=multi_processing"]}, False),  # after ours: wins
    ({"direct_num_workers": 4, "extra_args": ["--direct_running_mode=in_memory", "--runner=DirectRunner"]}, True),
    # the `--flag value` form, which Beam reads too: the warning was wrong both ways
    ({"direct_num_workers": 4, "extra_args": ["--direct_running_mode", "multi_processing"]}, False),
    ({"direct_num_workers": 4, "extra_args": ["--runner", "DataflowRunner"]}, False),
    ({"direct_num_workers": 4, "extra_args": ["--runner", "direct"]}, True),
    # ingestion, the costly stage, runs those workers: the warning was wrong
    ({"direct_num_workers": 4, "ingest_args": ["--direct_running_mode=multi_processing"]}, False),
    # ingestion alone in one process, as ingest_args are for; the flag Beam reads as the key's number
    ({"direct_num_workers": 4, "direct_running_mode": "multi_processing",
      "ingest_args": ["--direct_running_mode=in_memory"]}, False),
    ({"direct_num_workers": 4, "direct_running_mode": "multi_processing", "extra_args": ["--direct_num_workers=04"]},
     False),
    ({"direct_num_workers": 0, "direct_running_mode": "multi_processing", "extra_args": ["--direct_num_workers=0"]},
     False),
])
def test_workers_beside_the_in_memory_mode_are_said_to_be_unused(data_dir, caplog, beam, unused):
    raw = {"data": {"videos": "videos.csv", "images": "images"}, "beam": beam}
    with caplog.at_level("WARNING"):
        config.load(_write(data_dir, raw))
    said = "beam.direct_num_workers is unused: the in_memory mode runs one worker" in caplog.text
    assert said == unused and ("unused" in caplog.text) == unused


def test_run_thresholds_beside_one_window_length_are_unused_and_several_lengths_read_them(data_dir, caplog):
    raw = {"data": {"videos": "videos.csv", "images": "images"},
           "evaluation": {"scales": [1.0], "run_thresholds": [0.5]}}
    with caplog.at_level("WARNING"):
        config.load(_write(data_dir, raw))
    assert "evaluation.run_thresholds is unused: runs of the evidence are scored beside windows of several" in caplog.text
    caplog.clear()
    raw["evaluation"]["scales"] = [0.5, 1.0]
    with caplog.at_level("WARNING"):
        config.load(_write(data_dir, raw))
    assert "unused" not in caplog.text


def test_a_plateau_patience_of_0_passes_beside_a_cosine_schedule_only(data_dir):
    raw = {"data": {"videos": "videos.csv", "images": "images"},
           "trainer": {"lr_schedule": "cosine", "lr_decay_patience": 0}}
    assert config.load(_write(data_dir, raw)).trainer.lr_decay_patience == 0
    raw["trainer"]["lr_schedule"] = "plateau"
    with pytest.raises(UserError, match="trainer.lr_decay_patience must be > 0, got 0"):
        config.load(_write(data_dir, raw))


def test_a_missing_weights_file_is_refused_with_the_data_paths(data_dir):
    """Before, after TF and TFX had loaded; ``ImageNet`` read as a file beside the config."""
    raw = {"data": {"videos": "videos.csv", "images": "images"}, "features": {"weights": "ImageNet"}}
    with pytest.raises(UserError, match=r"features.weights: .*/ImageNet does not exist \(the keyword is 'imagenet'"):
        config.load(_write(data_dir, raw))
    with pytest.raises(UserError, match=r"the keyword is 'imagenet'"):  # `laf compile`: the cluster has no such file
        config.load(_write(data_dir, raw), check_paths=False)
    raw["features"]["weights"] = "w/backbone.weights.h5"
    with pytest.raises(UserError, match=r"features.weights: .*/w/backbone.weights.h5 does not exist$"):
        config.load(_write(data_dir, raw))
    assert config.load(_write(data_dir, raw), check_paths=False).features.weights.endswith("backbone.weights.h5")
    (data_dir / "w").mkdir()
    (data_dir / "w" / "backbone.weights.h5").write_bytes(b"h5")
    assert config.load(_write(data_dir, raw)).features.weights == str(data_dir / "w" / "backbone.weights.h5")


def test_a_number_past_pythons_conversion_limit_is_one_line(data_dir):
    path = data_dir / "c.json"
    path.write_text('{"trainer": {"epochs": ' + "9" * 5000 + "}}")
    with pytest.raises(UserError, match=f"^{path}: Exceeds the limit"):
        config.load(str(path))


def test_merge_keys_may_override_what_they_merge(data_dir):
    path = data_dir / "c.yaml"
    path.write_text("data: {videos: videos.csv, images: images}\n"
                    "trainer: {<<: {epochs: 7, cells: 64}, epochs: 9}\n")
    cfg = config.load(str(path))
    assert (cfg.trainer.epochs, cfg.trainer.cells) == (9, 64)


def test_a_folder_as_the_config_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=f"^{tmp_path}: is a folder, not a config file$"):
        config.load(str(tmp_path))


def test_dump_round_trip(data_dir):
    cfg = config.load(_write(data_dir, {"data": {"videos": "videos.csv", "images": "images"}}))
    again = config.load(config.dump(cfg, str(data_dir / "dumped.yaml")))
    assert again == cfg
    assert cfg.beam.pipeline_args()[0] == "--direct_running_mode=in_memory"


@pytest.mark.parametrize("override, message", [
    ({"features": {"fps": float("nan")}}, "features.fps must be a finite number"),
    ({"features": {"fps": 0.00005}}, r"features.fps must be >= 0.0001 \(a frame per 10000 s\), got 5e-05"),
    ({"trainer": {"learning_rate": float("inf")}}, "trainer.learning_rate must be a finite number"),
    ({"data": {"split_ratios": {"train": 1.2, "eval": -0.2}}}, "data.split_ratios must use keys train/eval/test, be >= 0"),
])
def test_values_that_would_fail_deep_inside_a_component_are_refused(data_dir, override, message):
    raw = {"data": {"videos": "videos.csv", "images": "images"}}
    for key, value in override.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    with pytest.raises(UserError, match=message):
        config.load(_write(data_dir, raw))


def test_remote_workers_get_the_setup_file_unless_something_else_ships_the_code():
    def setup_files(*extra):
        return [a for a in config.BeamConfig(extra_args=list(extra)).pipeline_args("/img/setup.py")
                if a.startswith("--setup_file")]

    assert setup_files("--runner=DataflowRunner") == ["--setup_file=/img/setup.py"]
    assert setup_files("--requirements_file=requirements.lock") == ["--setup_file=/img/setup.py"]
    assert setup_files("--sdk_container_image=IMAGE") == []
    assert setup_files("--setup_file=./setup.py") == ["--setup_file=./setup.py"]


def test_the_optimizer_names_are_keras_own():
    import keras

    from trainer.choices import OPTIMIZERS

    for name in OPTIMIZERS:
        keras.optimizers.get(name)


def test_the_fps_floor_is_the_video_schema_s():
    """A rate the config passed and the schema refused failed ExampleValidator, after the whole ingestion."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    import schemas

    with open(schemas.VIDEO_SCHEMA) as f:
        [fps] = [f for f in text_format.Parse(f.read(), schema_pb2.Schema()).feature if f.name == "fps"]
    assert fps.float_domain.min == pytest.approx(schemas.MIN_FPS)

