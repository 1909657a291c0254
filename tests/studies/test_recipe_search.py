"""The recipe search: the same search for every variant, scored by tune (validation images), and a rule fixed in
advance that adopts a change only when every variant gains beyond the seed noise."""
from pathlib import Path

import pytest

from vadlib.studies import recipe_search as rs

ROOT = Path(__file__).resolve().parents[2]


def test_every_variant_gets_the_same_search():
    plan = rs.plan(str(ROOT / "params.yaml"))
    per_variant = {v: [r["change"] for r in plan if r["variant"] == v] for v in rs.VARIANTS}
    assert all(c == per_variant["ad"] for c in per_variant.values())
    assert len(plan) == len(rs.VARIANTS) * (len(rs.NOISE_SEEDS) + 2 * len(rs.FACTORS))
    assert {"seed=0", "variants.laplace.beta=0.0005"} <= {s for r in plan for s in r["settings"]}


def _rows(default, changes):
    rows = [{"variant": v, "change": "default", "seed": s, "val_course_loss": default + 0.0001 * s}
            for v in rs.VARIANTS for s in rs.NOISE_SEEDS]
    for label, losses in changes.items():
        rows += [{"variant": v, "change": label, "seed": 0, "val_course_loss": x} for v, x in zip(rs.VARIANTS, losses)]
    return rows


def test_a_change_is_adopted_only_when_every_variant_gains_beyond_twice_the_noise():
    d = rs.decide(_rows(0.1, {"big": [0.099] * 4, "mixed": [0.098, 0.098, 0.098, 0.1005], "small": [0.09995] * 4}))
    assert d["bar"] == pytest.approx(0.0002)
    assert d["changes"]["big"]["verdict"] == "adopt"
    assert d["changes"]["mixed"]["verdict"] == "keep default"  # one variant loses
    assert d["changes"]["small"]["verdict"] == "keep default"  # within the noise


def test_an_incomplete_search_gives_no_verdict_and_the_report_says_so(tmp_path):
    rows = [r for r in _rows(0.1, {"big": [0.099] * 3}) if not (r["variant"] == "ad" and r["seed"] > 0)]
    d = rs.decide(rows)
    assert d["bar"] is None and all(c["verdict"] == "incomplete" for c in d["changes"].values())
    runs = tmp_path / "runs.jsonl"
    runs.write_text("".join(__import__("json").dumps({**r, "n_val": 500}) + "\n" for r in rows))
    text = rs.report(runs, tmp_path / "out.md")
    assert "no verdict yet" in text and (tmp_path / "out.md").read_text() == text


def test_a_complete_search_without_a_winner_says_the_defaults_stay(tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(ROOT)  # the plan reads params.yaml
    rows = [{**r, "n_val": 500, "val_course_loss": 0.1 + 0.0001 * r["seed"] + (0.0005 if r["change"] != "default"
                                                                                else 0)} for r in rs.plan()]
    runs = tmp_path / "runs.jsonl"
    runs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = rs.report(runs, tmp_path / "out.md")
    assert f"Runs present: {len(rows)} of {len(rows)}." in text
    assert "No change passes the rule: the defaults stay." in text and "so far" not in text
    runs.write_text("".join(json.dumps(r) + "\n" for r in rows[:-1]))  # one change run short
    assert "No change passes the rule so far" in rs.report(runs, tmp_path / "partial.md")
