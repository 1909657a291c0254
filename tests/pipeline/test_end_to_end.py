"""End to end: the real dvc.yaml on tiny synthetic data in a throwaway git repo."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from helpers import assert_best_sampler_passes_the_gate
from idx_fixtures import write_fashion_idx
from report_tables import check_report

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ["ad", "normal", "uniform", "laplace"]
# the report stage's committed inputs (the seed noise, the seed study's answer): deps under reports/, which the copy
# below leaves out with the rest of reports/
COMMITTED_INPUTS = [d for d in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]["deps"]
                    if isinstance(d, str) and d.startswith("reports/")]


def _run(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _ran_stages(output):
    return sorted(line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage"))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    repo = tmp_path_factory.mktemp("e2e") / "project"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "models", "checkpoints", "dvc_plots", "__pycache__", ".pytest_cache", "*.egg-info",
        "dvc.lock", "reports", "metrics", "plots", "tmp", "cache", ".gpudata", ".whl"))
    (repo / "reports").mkdir()
    for committed in COMMITTED_INPUTS:
        (repo / committed).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / committed, repo / committed)
    raw = repo.parent / "raw"
    write_fashion_idx(raw, n_train=300, n_test=30)  # 260 train-split images left for the evaluator
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["device"] = "cpu"  # the recorded device below is then known whatever machine runs this
    params["data"].update(root=str(raw), verify_md5=False, download=False, n_train=40, n_test=20, n_val=5)
    params["model"]["latent_dim"] = 8
    params["train"].update(epochs=2, batch_size=16)
    params["fit"].update(epochs=2, batch_size=16, refit_train=True)  # the optional train refit, end to end
    params["tsne"].update(n_points=20, max_iter=250)
    params["render"].update(n_samples=10, interp_pairs=2)
    params["evaluator"].update(epochs=1, n_val=100)
    params["quality"].update(n_samples=20)
    params["evaluate"].update(likelihood_images=10, likelihood_samples=100)
    params["impute"].update(n_images=8, samples=4)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VADLIB_DATA_ROOT", None)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"]):
        _run(cmd, repo, env)
    first = _run(["dvc", "repro"], repo, env)
    return repo, env, first


def test_every_stage_runs_and_every_output_parses(project):
    repo, env, first = project
    expected = {"prepare", "evaluator", "report", "compare", "impute_baselines"} | {
        f"{s}@{v}" for s in ("train", "fit", "evaluate", "impute", "tsne", "render") for v in VARIANTS}
    assert set(_ran_stages(first)) == expected
    for v in VARIANTS:
        m = json.loads((repo / f"metrics/variants/{v}.json").read_text())
        for split in ("train", "train_refit", "test"):
            assert 0 < m[split]["course_loss"] < 1 and m[split]["mse"] > 0
        assert ("kl" in m["test"]) == (v != "ad")
        ck = torch.load(repo / f"models/{v}.pt", weights_only=True)
        assert ck["latents"].shape[0] == 40
        fitted = torch.load(repo / f"data/fitted/{v}.pt", weights_only=True)
        assert fitted["test"].shape[0] == 20 and fitted["train_refit"].shape[0] == 40
        for csv in (f"plots/train/{v}.csv", f"plots/fit/{v}.csv", f"plots/tsne/{v}_train.csv", f"plots/tsne/{v}_test.csv"):
            lines = (repo / csv).read_text().splitlines()
            assert len(lines) >= 3 and "," in lines[0], csv
        assert_best_sampler_passes_the_gate(m, v)
        imputed = json.loads((repo / f"metrics/impute/{v}.json").read_text())
        assert imputed["n_images"] == 8 and list(imputed["conditions"]) == ["random_0.5", "bottom_half", "centre_square"]
        assert (imputed["conditions"]["bottom_half"]["uncertainty"]["coverage_90"] is None) == (v == "ad")
        assert (repo / f"plots/impute/{v}.csv").read_text().startswith("ratio,mse_missing,")
        for png in ("reconstructions", "interpolations", "imputation", "tsne", "samples/prior", "samples/gaussian", "samples/gmm",
                    "samples/posterior"):
            assert (repo / f"plots/images/{v}/{png}.png").read_bytes()[:4] == b"\x89PNG"
    assert (repo / "plots/images/comparison.png").exists()
    assert set(json.loads((repo / "metrics/impute/baselines.json").read_text())["conditions"]["random_0.5"]) >= {
        "knn", "mean"}
    report = (repo / "reports/report.md").read_text()
    assert all(f"## {i}." in report for i in (1, 2, 3, 4))
    metrics = {v: json.loads((repo / f"metrics/variants/{v}.json").read_text()) for v in VARIANTS}
    assert check_report(report, metrics, json.loads((repo / "metrics/evaluator.json").read_text())) >= 4 * 30
    assert "| train refit |" in report  # fit.refit_train is on here
    assert "Test images are encoded without an encoder" in report
    assert "show this run alone" not in report  # a tiny run is no run of the seed study: it borrows no study answer
    assert all(f"../plots/images/{v}/samples/gmm.png" in report for v in VARIANTS)
    data = json.loads((repo / "metrics/data.json").read_text())
    assert data["n_train"] == 40 and sum(data["train_per_class"].values()) == 40
    shown = _run(["dvc", "metrics", "show"], repo, env)
    assert all(f"metrics/variants/{v}.json" in shown for v in VARIANTS)
    for stage in ("train", "fit", "evaluate", "impute", "tsne", "render"):
        timing = json.loads((repo / f"metrics/seconds/{stage}/ad.json").read_text())
        assert timing[f"{stage}_seconds"] > 0 and timing["device"].startswith("cpu"), timing


def test_second_repro_is_a_noop(project):
    repo, env, _ = project
    out = _run(["dvc", "repro"], repo, env)
    assert _ran_stages(out) == [] and "up to date" in out


@pytest.mark.parametrize("stage", ["prepare", "train@ad", "fit@normal"])
def test_rerunning_an_upstream_stage_does_not_cascade(project, stage):
    """Cached outputs are pure functions of their deps (wall times live in metrics/seconds/, which nothing depends
    on), so a forced rerun writes the same bytes and DVC sees nothing new downstream."""
    repo, env, _ = project
    forced = _run(["dvc", "repro", "--force", "--single-item", stage], repo, env)
    assert _ran_stages(forced) == [stage]
    status = _run(["dvc", "status"], repo, env)
    assert "up to date" in status, status
    after = _run(["dvc", "repro"], repo, env)
    assert _ran_stages(after) == [], after


def _views(repo, env):
    return sorted(_run(["dvc", "exp", "list", "--rev", "HEAD", "--name-only"], repo, env).split())


def test_views_make_dvc_metrics_and_plots_diff_compare_distributions(project):
    """`make views` (scripts/views.py): one experiment per variant, then DVC's own diffs compare distributions; run
    again, it replaces the views it made before (without removing them first `dvc exp run -n` refuses the names)."""
    repo, env, _ = project
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "results"], repo, env)
    _run([sys.executable, "scripts/views.py"], repo, env)
    assert _views(repo, env) == sorted(VARIANTS)
    diff = json.loads(_run(["dvc", "metrics", "diff", "ad", "normal", "--json"], repo, env))
    selected = diff["metrics/selected.json"]
    a = json.loads((repo / "metrics/variants/ad.json").read_text())["test"]["course_loss"]
    b = json.loads((repo / "metrics/variants/normal.json").read_text())["test"]["course_loss"]
    assert selected["test.course_loss"]["old"] == pytest.approx(a) and selected["test.course_loss"]["new"] == pytest.approx(b)
    assert selected["test.course_loss"]["diff"] == pytest.approx(b - a)
    assert "samples.gmm.fd" in selected  # (diff lists only metrics that differ)
    assert "imputation.conditions.bottom_half.missing.mse" in selected  # imputation compares the same way
    assert set(diff) == {"metrics/selected.json"}, "only the mirrored metrics differ between views"
    plots = json.loads(_run(["dvc", "plots", "diff", "ad", "normal", "--json", "--targets", "plots/selected/train.csv"],
                            repo, env))
    entries = plots["data"]["plots/selected/train.csv"]
    revs = {row["rev"] for entry in entries for row in entry["content"]["data"]["values"]}
    assert revs == {"ad", "normal"}

    rerun = _run([sys.executable, "scripts/views.py"], repo, env)
    assert all(f"view {v}: dvc exp run --temp -n {v} -S compare={v}" in rerun for v in VARIANTS), rerun
    assert _views(repo, env) == sorted(VARIANTS)  # each name once: the stale views went, fresh ones came
    again = json.loads(_run(["dvc", "metrics", "diff", "ad", "normal", "--json"], repo, env))
    assert again["metrics/selected.json"]["test.course_loss"]["diff"] == pytest.approx(b - a)


def test_a_queued_grid_runs_and_dvc_exp_show_lists_it(project):
    """`dvc exp run --queue -S 'key=a,b'` + `dvc queue start -j 1`: the sweep recipe the README gives."""
    repo, env, _ = project
    env = {**env, "VADLIB_DATA_ROOT": str(repo.parent / "raw")}
    _run(["dvc", "exp", "run", "--queue", "-S", "variants.normal.beta=0.01,0.1"], repo, env)
    _run(["dvc", "queue", "start", "-j", "1"], repo, env)
    deadline = time.time() + 600
    while time.time() < deadline:
        status = _run(["dvc", "queue", "status"], repo, env)
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert "Failed" not in status, status
    shown = json.loads(_run(["dvc", "exp", "show", "--json"], repo, env))
    betas = set()
    for commit in shown:
        for exp in commit.get("experiments") or []:
            for rev in exp["revs"]:
                params = rev["data"]["params"]["params.yaml"]["data"]
                metrics = rev["data"]["metrics"]["metrics/variants/normal.json"]["data"]
                assert metrics["test"]["course_loss"] > 0
                betas.add(params["variants"]["normal"]["beta"])
    assert {0.01, 0.1} <= betas
    _run(["dvc", "exp", "remove", "-A"], repo, env)


def test_changing_compare_alone_reruns_only_the_compare_stage(project):
    repo, env, _ = project
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["compare"] = "uniform"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _run(["dvc", "repro"], repo, env)
    # `make views` already ran compare=uniform, so DVC's run cache may restore it instead of running it
    assert _ran_stages(out) == ["compare"] or ("'compare' is cached" in out and _ran_stages(out) == []), out
    assert json.loads((repo / "metrics/selected.json").read_text())["compare"] == "uniform"


def test_a_temporary_experiment_without_the_data_fails_with_the_data_error(project):
    """A --temp or queued run works in a copy of the repo: a relative data root points nowhere there."""
    repo, env, _ = project
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(root="../no-such-data", download=False)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = subprocess.run(["dvc", "exp", "run", "--temp", "-S", "data.n_test=10"], cwd=repo, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "error: Fashion-MNIST data folder" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    _run(["git", "checkout", "--", "params.yaml"], repo, env)


def test_changing_one_variant_reruns_only_its_stages_and_the_report(project):
    repo, env, _ = project
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["variants"]["normal"]["beta"] = 0.5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _run(["dvc", "repro"], repo, env)
    assert _ran_stages(out) == sorted(["train@normal", "fit@normal", "evaluate@normal", "impute@normal", "tsne@normal",
                                       "render@normal", "report", "compare"])


def _flat_keys(tree, prefix=""):
    if not isinstance(tree, dict):
        return {prefix}
    return set().union(*(_flat_keys(v, f"{prefix}{k}.") for k, v in tree.items()))


def test_generation_and_latent_metrics_have_the_same_keys_for_every_variant(project):
    """`dvc metrics show` is one comparison table only if every variant reports the same keys."""
    repo, _, _ = project
    keys = {}
    for v in VARIANTS:
        m = json.loads((repo / f"metrics/variants/{v}.json").read_text())
        keys[v] = _flat_keys({k: m[k] for k in ("latent", "samples", "best_sampler")})
        assert {"samples.gmm.fd.", "samples.real.fd.", "latent.knn_accuracy.", "best_sampler.name."} <= keys[v]
    assert all(keys[v] == keys["ad"] for v in VARIANTS)
    evaluator = json.loads((repo / "metrics/evaluator.json").read_text())
    assert 0 <= evaluator["test_accuracy"] <= 1


def test_the_full_scale_command_runs_as_an_experiment_and_reports_from_it(project):
    """`make full-scale` (scripts/full_scale.py run, then report), here with tiny sizes over its settings: a named DVC
    experiment that leaves the workspace's results alone, and reports/full_scale.md holding the experiment's figures."""
    repo, env, _ = project
    before = {p: (repo / p).read_bytes() for p in ("dvc.lock", "metrics/variants/normal.json", "reports/report.md")}
    tiny = ["data.n_train=40", "data.n_test=20", "data.evaluator_pool=unused", "evaluator.n_val=100",
            "train.batch_size=16", "train.epochs=2", "fit.batch_size=16", "fit.epochs=2"]
    out = _run([sys.executable, "scripts/full_scale.py", "run", "--allow-cpu", "--name", "fs-tiny",
                *(f"--set={s}" for s in tiny)], repo, env)
    assert "full scale on cpu" in out
    assert {p: (repo / p).read_bytes() for p in before} == before, "the full-scale run changed the workspace"
    _run([sys.executable, "scripts/full_scale.py", "report", "--name", "fs-tiny"], repo, env)
    text = (repo / "reports/full_scale.md").read_text()
    assert text.startswith("# Full scale: 40 train / 20 test images")
    rev = _run(["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"], repo, env)
    rev = next(line.split()[0] for line in rev.splitlines() if line.endswith("/fs-tiny"))
    show = lambda path: json.loads(_run(["git", "show", f"{rev}:{path}"], repo, env))  # noqa: E731
    params = yaml.safe_load(_run(["git", "show", f"{rev}:params.yaml"], repo, env))
    assert params["train"]["lr_decoder"] == 0.002828 and params["data"]["evaluator_pool"] == "unused"
    tables = text.split("## The report stage's tables")[1].split("## Params of the run")[0]
    metrics = {v: show(f"metrics/variants/{v}.json") for v in VARIANTS}
    assert check_report(tables, metrics, show("metrics/evaluator.json")) >= 4 * 30
    for v in VARIANTS:
        assert f"| train@{v} | {show(f'metrics/seconds/train/{v}.json')['train_seconds']:.1f} |" in text

