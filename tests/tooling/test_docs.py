"""The README and docs stay true: short, every relative link resolves, every cheap command runs, and no tracked file
narrates how the project was developed (the project speaks of itself; git history keeps the rest)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p and (ROOT / p).is_file()]


def _guides() -> list[Path]:
    """Every hand-written or generated Markdown page a reader follows links from."""
    return sorted(ROOT / p for p in _tracked() if p.endswith(".md"))


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)


def broken_links(page: Path) -> list[str]:
    text = page.read_text()
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # web addresses and anchors within the page
        path = target.split("#")[0]
        if not (page.parent / path).exists():
            broken.append(target)
    return broken


# Phrases that narrate development rather than describe the project. Written so that they do not match themselves.
NARRATION = [
    r"\bissues?\s*#?\d+",                                   # work-item numbers
    r"\bwork[- ]items?\s*#?\d+",
    r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|\d+(st|nd|rd|th))"
    r"\s+(session|round)s?\b",                              # numbered rounds of development
    r"\bsessions?\s*\d+",
    r"\b(this|that|earlier|previous|next|last|a\s+later|every|each|gpu|cpu|development)\s+sessions?\b",
    r"\bdevelopment\s+rounds?\b",
    r"\bthis\s+machine\s+today\b",
    r"\bmeets\s+\d+'s\b",
]
NARRATION_RE = re.compile("|".join(f"(?:{p})" for p in NARRATION), re.I)
BINARY = (".png", ".pt", ".gz", ".pkl", ".npz", ".zip", ".whl")


def narration_hits(text: str) -> list[str]:
    return [m.group(0) for m in NARRATION_RE.finditer(text)]


def test_readme_is_a_short_user_guide():
    lines = README.read_text().splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines: method, measurements and history belong in docs/"
    for heading in ("## Quickstart", "## A first look", "## Results at a glance", "## Comparing distributions",
                    "## Scaling up", "## Extending", "## Layout"):
        assert any(line.startswith(heading) for line in lines), f"README.md lacks the section {heading!r}"


def test_every_relative_link_in_the_guides_resolves():
    pages = _guides()
    assert ROOT / "docs/method.md" in pages and README in pages
    problems = {str(p.relative_to(ROOT)): broken_links(p) for p in pages}
    assert not {k: v for k, v in problems.items() if v}


def test_the_link_check_catches_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("x")
    page.write_text("[ok](there.md) [anchor](there.md#top) [web](https://example.org) [gone](docs/none.md)")
    assert broken_links(page) == ["docs/none.md"]


def test_no_tracked_file_narrates_development():
    hits = {}
    for rel in _tracked():
        if rel.endswith(BINARY) or rel == "tests/tooling/test_docs.py":
            continue
        try:
            text = (ROOT / rel).read_text()
        except UnicodeDecodeError:
            continue
        found = narration_hits(text)
        if found:
            hits[rel] = found[:3]
    assert not hits, f"tracked files narrate the project's development: {hits}"


# (each example split in two so that a plain grep over the tree does not find them here)
@pytest.mark.parametrize("text", ["Targets of iss" "ue 11", "the tenth sess" "ion", "in this sess" "ion",
                                  "Eighth sess" "ion on an H200", "a column that meets 11's targets", "iss" "ue #3"])
def test_the_narration_check_catches_each_kind(text):
    assert narration_hits(text)


@pytest.mark.parametrize("text", ["3 interleaved rounds", "start_new_session=True", "a D-Bus session bus"])
def test_the_narration_check_leaves_plain_words(text):
    assert not narration_hits(text)


def _make_targets() -> list[str]:
    targets = set()
    for page in [README, ROOT / "CONTRIBUTING.md"]:
        for block in _code_blocks(page.read_text()):
            targets |= set(re.findall(r"^\s*make\s+([\w-]+)", block, flags=re.M))
    return sorted(targets)


def test_every_make_target_in_the_guides_exists():
    targets = _make_targets()
    assert {"repro", "test", "demo", "views"} <= set(targets)
    for target in targets:
        proc = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, f"`make {target}` (README/CONTRIBUTING) does not exist: {proc.stderr}"


def _scripts_named() -> list[str]:
    text = "\n".join(p.read_text() for p in [README, *sorted((ROOT / "docs").glob("*.md"))])
    return sorted(set(re.findall(r"\b((?:scripts|benchmarks)/[\w/]+\.py)\b", text)))


def test_every_python_script_the_guides_name_exists_and_answers_help():
    scripts = _scripts_named()
    assert "scripts/demo.py" in scripts
    for script in scripts:
        assert (ROOT / script).is_file(), f"{script} is named in README/docs but does not exist"
        proc = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and "usage" in proc.stdout.lower(), f"{script} --help: {proc.stderr[-500:]}"


# ---- make demo ---------------------------------------------------------------------------------------------------
TINY = ["data.n_train=40", "data.n_test=20", "data.n_val=5", "data.verify_md5=false", "data.download=false", "model.latent_dim=8",
        "train.epochs=2", "train.batch_size=16", "fit.epochs=2", "fit.batch_size=16", "evaluator.n_val=100",
        "quality.n_samples=20", "evaluate.likelihood_samples=50", "tsne.n_points=20", "render.n_samples=10", "render.interp_pairs=2"]


def _demo(args, tmp_path):
    return subprocess.run([sys.executable, "scripts/demo.py", *args], cwd=ROOT, capture_output=True, text=True)


def _status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_elsewhere_and_leaves_the_project_as_it_was(tmp_path):
    from idx_fixtures import write_fashion_idx
    raw = tmp_path / "raw"
    write_fashion_idx(raw, n_train=300, n_test=30)
    before = _status()
    folder = tmp_path / "demo"
    proc = _demo(["--dir", str(folder), *(f"--set={s}" for s in [*TINY, f"data.root={raw}"])], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _status() == before, "the demo changed the project's working tree"
    report = folder / "reports/report.md"
    assert f"report:   {report}" in proc.stdout
    for variant in ("ad", "normal", "uniform", "laplace"):
        assert (folder / f"metrics/variants/{variant}.json").is_file()
        assert (folder / f"plots/images/{variant}/samples/class_gmm.png").is_file()
    assert "Data: 40 train / 20 test images" in report.read_text()  # the demo's params, not the committed run's


def test_demo_refuses_a_folder_inside_the_project(tmp_path):
    proc = _demo(["--dir", str(ROOT / "demo-out")], tmp_path)
    assert proc.returncode != 0 and "must lie outside the project" in proc.stderr
    assert not (ROOT / "demo-out").exists()


def test_demo_refuses_to_replace_a_folder_it_did_not_make(tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    proc = _demo(["--dir", str(keep)], tmp_path)
    assert proc.returncode != 0 and "was not made by this demo" in proc.stderr
    assert (keep / "notes.txt").read_text() == "precious"


def test_demo_replaces_its_own_earlier_folder(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / ".vadlib-demo").write_text("an earlier demo")
    (folder / "stale.txt").write_text("from an earlier demo")
    # No data there: the copy is made, then its `prepare` stage stops with the data error (seconds, not a whole run).
    proc = _demo(["--dir", str(folder), f"--set=data.root={tmp_path / 'no-data'}", "--set=data.download=false"],
                 tmp_path)
    assert proc.returncode != 0 and "Fashion-MNIST" in proc.stdout + proc.stderr
    assert not (folder / "stale.txt").exists() and (folder / "dvc.yaml").is_file()


def test_demo_names_a_bad_setting_before_running_anything(tmp_path):
    proc = _demo(["--dir", str(tmp_path / "d"), "--set", "train.epochz=3"], tmp_path)
    assert proc.returncode != 0 and "train.epochz" in proc.stderr
    assert not (tmp_path / "d/dvc.lock").exists()
    proc = _demo(["--dir", str(tmp_path / "d"), "--set", "train.epochs=-1"], tmp_path)
    assert proc.returncode != 0 and "train.epochs" in proc.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_demo_runs_the_demo_script():
    proc = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True)
    assert "scripts/demo.py" in proc.stdout
