"""The README's "Results at a glance" is generated from the committed study table by the same analysis as
reports/study.md: a stale block fails here, and the block says no "no difference" without a verdict."""
from pathlib import Path

import pytest

from vadlib.infra.config import load_params
from vadlib.infra.errors import VadlibError
from vadlib.studies import findings
from vadlib.studies.table import load_table

ROOT = Path(__file__).resolve().parents[2]


def committed_block() -> tuple[list[str], list[str]]:
    betas = {n: v.beta for n, v in load_params(ROOT / "params.yaml").variants.items()}
    expected = findings.glance(load_table(ROOT / "reports/study/runs.csv"), betas,
                               ROOT / "reports/study/uniform_ablation.csv")
    return findings.readme_block((ROOT / "README.md").read_text()), expected


def test_the_readme_results_are_what_the_committed_table_gives():
    shown, expected = committed_block()
    assert shown == expected, "README.md's study results are stale: run `python scripts/study.py seeds report`"
    assert 5 <= sum(line.startswith("- ") for line in shown) <= 9
    text = " ".join(shown)
    assert "no difference" not in text.lower() and "indistinguishable" not in text.lower()


def test_rewrite_replaces_only_the_block_and_refuses_a_readme_without_one(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{findings.BEGIN}\nold\n{findings.END}\nafter\n")
    findings.rewrite_readme(["- new", "  line"], readme)
    assert readme.read_text() == f"# x\n\nbefore\n{findings.BEGIN}\n- new\n  line\n{findings.END}\nafter\n"
    assert findings.readme_block(readme.read_text()) == ["- new", "  line"]
    readme.write_text("# no markers\n")
    with pytest.raises(VadlibError, match="expected one"):
        findings.rewrite_readme(["- x"], readme)
