"""The study's report (refgan/study/report.py, figures.py): every section, the verdict's
wording, and every number on the page equal to results.json's."""
import html
import json
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest

from refgan.study import summarise
from refgan.study.figures import fig_threshold
from refgan.study.report import verdict

from study_helpers import check_report, comparison, fake_jobs, results_of
from test_study_summary import records, sweep_of


def test_report_has_every_section(study):
    _, out, res, _ = study
    check_report(out)
    # the GAN-set growth is reported with the reason it was chosen
    why = res.policy.gan_grow_why
    assert why and html.escape(why) in (out / "report.html").read_text()


def test_verdict_names_every_comparison_and_credits_the_gan_only_for_its_own_gains():
    s = summarise(fake_jobs({"real": 0.6, "real+gen": 0.7}), ["healthy", "blast"], n_boot=10)
    base = results_of(s, [], config=dict(folds=5, repeats=2, gan_seeds=2, quick=False))
    comps = [comparison("real+classic+gen", "real", 0.07, True),
             comparison("real+classic+gen", "real+classic", -0.004, False),
             comparison("real+gen", "real", -0.02, False),
             comparison("real+gen x2", "real", 0.01, False),
             comparison("real+inplace-blur", "real", 0.0, False),
             comparison("real+classic", "real", 0.06, True)]
    lines = verdict(replace(base, comparisons={"lr": comps}))
    assert lines[0].startswith("Adding GAN-generated images to an otherwise unchanged training set "
                               "made no classifier significantly more accurate")
    text = " ".join(lines)
    for c in comps:  # each comparison is named in the verdict
        assert c.condition in text
    assert "by 0.0 points" not in text
    gain = verdict(replace(base, comparisons={"lr": [comparison("real+gen", "real", 0.08, True)]}))
    assert "significantly more accurate: LR" in gain[0]
    quick = verdict(replace(base, config=dict(base.config, quick=True), comparisons={"lr": comps}))
    assert "Pipeline check" in quick[0] and "not evidence" in quick[0]


def _strip(cell):
    return re.sub(r"<[^>]+>", "", cell).replace("\u2212", "-").strip()


def test_report_numbers_are_results_json_numbers(study):
    """Every table cell and every comparison of report.html, parsed from the page,
    equals results.json's number (in %, to the page's one decimal)."""
    from refgan.study.figures import NAMES

    _, out, _, _ = study
    res = json.loads((out / "results.json").read_text())
    page = (out / "report.html").read_text()
    results = page[page.index("<h2>Results</h2>"):page.index("<h2>Paired comparisons</h2>")]
    paired = page[page.index("<h2>Paired comparisons</h2>"):page.index("<h2>How much")]
    by_name = {v: k for k, v in NAMES.items()}

    def pct(text):
        return None if text == "n/a" else float(text)

    seen = 0
    for chunk in results.split("<h3>")[1:]:
        clf = by_name[chunk[:chunk.index("</h3>")]]
        for cond, n, cells in re.findall(r"<tr[^>]*><td>(.*?)</td><td>(\d+)</td>(.*?)</tr>", chunk):
            cond = html.unescape(_strip(cond.split(" <span")[0]))
            if cond not in res["table"][clf]:
                continue  # the per-class table
            row = res["table"][clf][cond]
            assert int(n) == round(row["n_train"])
            values = re.findall(r"<td>([\d.]+|n/a) <span class=ci>\[([\d.]+|n/a), ([\d.]+|n/a)\]",
                                cells)
            assert len(values) == len(res["metrics"])
            for m, (mean, low, high) in zip(res["metrics"], values):
                for got, key in ((mean, "mean"), (low, "low"), (high, "high")):
                    want = row[m][key]
                    assert pct(got) == pytest.approx(100 * want, abs=0.051), (clf, cond, m, key)
                seen += 1
    assert seen == sum(len(rows) * len(res["metrics"]) for rows in res["table"].values())
    seen = 0
    for chunk in paired.split("<h3>")[1:]:
        clf = by_name[chunk[:chunk.index("</h3>")]]
        rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>.*?</td><td>(.*?)</td>", chunk)
        comps = {(c["condition"], c["baseline"]): c for c in res["comparisons"][clf]}
        for cond, base, diff in rows:
            c = comps[(html.unescape(cond), html.unescape(base))]
            got = _strip(diff).split(" [")[0]
            assert (got == "n/a") == (c["diff"] is None)
            if c["diff"] is not None:
                assert float(got) == pytest.approx(100 * c["diff"], abs=0.051)
            seen += 1
    assert seen == sum(len(v) for v in res["comparisons"].values())


def test_threshold_figure_is_drawn_for_a_multiclass_result():
    K = 3
    row = SimpleNamespace(threshold_sweep=sweep_of(records(K), K))
    results = SimpleNamespace(table={"lr": {"real": row, "real+gen": row}},
                              class_names=["a", "b", "c"], positive="c")
    png = fig_threshold(results)
    assert png and len(png) > 1000
