import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vadlib.infra.config import load_params, parse_params
from vadlib.infra.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def default_raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_shipped_params_are_valid_and_list_the_four_variants():
    cfg = load_params(ROOT / "params.yaml")
    assert list(cfg.variants) == ["ad", "normal", "uniform", "laplace"]
    assert {v.distribution for v in cfg.variants.values()} == {"ad", "normal", "uniform", "laplace"}
    assert cfg.data.n_train == 1000 and cfg.data.subset == "first"


@pytest.mark.parametrize("path, value, expected", [
    ("train.epochs", -3, r"train\.epochs: got -3, expected an integer >= 1"),
    ("train.epochs", "ten", r"train\.epochs: got 'ten', expected an integer"),
    ("train.lr_decoder", 0, r"train\.lr_decoder: got 0.0, expected a number > 0"),
    ("train.batch_size", 1.5, r"train\.batch_size: got 1.5, expected an integer"),
    ("data.subset", "random", r"data\.subset: got 'random', expected one of 'first', 'stratified'"),
    ("data.n_train", 70000, r"data\.n_train: got 70000, expected an integer >= 1 and <= 60000"),
    ("data.verify_md5", "yes", r"data\.verify_md5: got 'yes', expected true or false"),
    ("variants.ad.init", "zeros", r"variants\.ad\.init: got 'zeros', expected one of 'class', 'random'"),
    ("variants.laplace.init_width", 0.0, r"variants\.laplace\.init_width: got 0.0, expected a number > 0"),
    ("model.channels", [128], r"model\.channels: got \[128\], expected a list of 2 positive integers"),
    ("device", "tpu", r"device: got 'tpu', expected 'auto', 'cpu', 'cuda' or 'cuda:N'"),
])
def test_bad_value_names_key_value_and_expectation(path, value, expected):
    raw = default_raw()
    *parents, leaf = path.split(".")
    node = raw
    for key in parents:
        node = node[key]
    node[leaf] = value
    with pytest.raises(ConfigError, match=expected):
        parse_params(raw)


KNOWN = r"expected one of ad, normal, uniform, laplace, uniform_ab$"


def test_an_unknown_distribution_is_refused_where_it_is_resolved_naming_the_key():
    """Reading params needs no torch, so it cannot know the registered families: the name is checked by
    `get_distribution`, which names the params key it came from and every known family."""
    from vadlib.core.distributions import get_distribution

    raw = default_raw()
    raw["variants"]["normal"]["distribution"] = "cauchy"
    assert parse_params(raw).variant("normal").distribution == "cauchy"
    with pytest.raises(ConfigError, match=r"^variants\.normal\.distribution: got 'cauchy', " + KNOWN):
        get_distribution("cauchy", "variants.normal.distribution")
    with pytest.raises(ConfigError, match=r"^distribution: got 'cauchy', " + KNOWN):  # the default `where`
        get_distribution("cauchy")


def test_train_with_an_unknown_distribution_exits_with_the_clear_message_and_writes_no_model(tmp_path):
    from helpers import make_project

    folder = make_project(tmp_path / "project")
    params = yaml.safe_load((folder / "params.yaml").read_text())
    params["variants"]["normal"]["distribution"] = "cauchy"
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, str(ROOT / "stages/train.py"), "normal"], cwd=folder,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "error: variants.normal.distribution: got 'cauchy', expected one of ad, normal, uniform, laplace" \
        in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (folder / "models").exists() or not any((folder / "models").iterdir())


def test_unknown_and_missing_keys_and_every_problem_listed():
    raw = default_raw()
    raw["train"]["epoch"] = 5  # typo
    raw["extra"] = 1
    raw["fit"]["lr"] = -1.0
    del raw["variants"]["normal"]["distribution"]
    with pytest.raises(ConfigError) as err:
        parse_params(raw)
    lines = str(err.value).splitlines()[1:]
    assert len(lines) == 4, lines
    assert any(line.strip().startswith("train.epoch: unknown key") for line in lines)
    assert any(line.strip().startswith("extra: unknown key") for line in lines)
    assert any("variants.normal.distribution: missing" in line for line in lines)


def test_missing_variants_section():
    raw = default_raw()
    del raw["variants"]
    with pytest.raises(ConfigError, match="variants: missing"):
        parse_params(raw)


def test_not_yaml_and_missing_file(tmp_path):
    (tmp_path / "p.yaml").write_text("seed: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(tmp_path / "p.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "missing.yaml")


def test_unknown_variant_name_requested():
    cfg = parse_params(default_raw())
    with pytest.raises(ConfigError, match=r"variants\.gamma: no such variant"):
        cfg.variant("gamma")


def test_stage_with_bad_params_exits_nonzero_and_writes_nothing(tmp_path):
    raw = default_raw()
    raw["train"]["epochs"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([sys.executable, str(ROOT / "stages/train.py"), "ad"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: invalid params:") and "train.epochs: got 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_schema_defaults_equal_the_shipped_params():
    """One meaning for an omitted key: a partial mapping (tests, scripts) gets exactly what params.yaml says."""
    from vadlib.infra.config import Config

    shipped = load_params(ROOT / "params.yaml").to_dict()
    defaults = Config().to_dict()
    for section in shipped:
        if section != "variants":
            assert defaults[section] == shipped[section], f"{section}: schema defaults differ from params.yaml"


@pytest.mark.parametrize("change, expected", [
    (lambda raw: raw.update(compare="gamma"),
     r"compare: got 'gamma', expected one of the variants \(ad, normal, uniform, laplace\)"),
    (lambda raw: raw["variants"].update({"bad name!": {"distribution": "normal"}}),
     r"variants\.bad name!: bad variant name 'bad name!', expected letters, digits, '_' or '-'"),
    (lambda raw: raw.update(train=[200, 64]), r"train: got \[200, 64\], expected a mapping of keys"),
    (lambda raw: raw.update(quality="fast"), r"quality: got 'fast', expected a mapping of keys"),
    (lambda raw: raw.update(variants={}),
     r"variants: got \{\}, expected a non-empty mapping of variant name -> settings"),
    (lambda raw: raw.update(variants=["ad", "normal"]), r"variants: got \['ad', 'normal'\], expected a non-empty"),
    (lambda raw: raw.update(device="cuda:abc"),
     r"device: got 'cuda:abc', expected 'auto', 'cpu', 'cuda' or 'cuda:N' \(N a GPU index\)"),
    (lambda raw: raw.update(device="cuda:"), r"device: got 'cuda:', expected"),
    (lambda raw: raw.update(device="cuda:0 "), r"device: got 'cuda:0 ', expected"),
    (lambda raw: raw.update(device="CPU"), r"device: got 'CPU', expected"),
    (lambda raw: raw.update(device=0), r"device: got 0, expected a string"),
], ids=["compare-names-no-variant", "bad-variant-name", "section-a-list", "section-a-string", "empty-variants",
        "variants-a-list", "device-cuda-abc", "device-cuda-colon", "device-trailing-space", "device-upper-case",
        "device-a-number"])
def test_structural_problems_are_refused_naming_the_parameter(change, expected):
    raw = default_raw()
    change(raw)
    with pytest.raises(ConfigError, match=expected) as err:
        parse_params(raw)
    assert len(str(err.value).splitlines()) == 2, str(err.value)  # the header and exactly this one problem


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_every_documented_device_string_is_accepted(device):
    assert parse_params({**default_raw(), "device": device}).device == device


def test_a_bad_device_is_listed_beside_the_other_problems():
    raw = default_raw()
    raw.update(device="gpu", compare="normal")
    raw["train"]["epochs"] = 0
    with pytest.raises(ConfigError) as err:
        parse_params(raw)
    lines = [line.strip() for line in str(err.value).splitlines()[1:]]
    assert [line.split(":")[0] for line in lines] == ["train.epochs", "device"], lines
