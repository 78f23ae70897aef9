"""Every HTML page refgan writes (the study's report.html is the only one) escapes
what it did not write itself: class names, the data set's name, file and run names,
command lines and config values. Hostile names are legal folder names, so they reach
the report; they must arrive as text, never as markup."""
import re

import numpy as np

import refgan
from refgan.data import make_blood_cells
from refgan.study import quick_config, run_study
from refgan.study.results import StudyResults
from refgan.study import report

from study_helpers import SMALL, stub_gan

HOSTILE = ["<img src=x onerror=alert(1)>", "<script>alert(1)</script> $a^{$", "a&b \"q\" 'q'"]


def _markup_injected(page: str) -> list[str]:
    """The hostile tags that arrived as markup (unescaped)."""
    return [tag for tag in ("<img src=x", "<img src=y", "<script>", "<b>run")
            if tag in page]


def test_study_report_escapes_class_names_data_name_and_config_values(tmp_path):
    ds = make_blood_cells(n_per_class=12, size=16, seed=0)
    ds.class_names = HOSTILE[:2]
    ds.name = "<b>run</b> <img src=y onerror=alert(2)>"
    cfg = quick_config(**dict(SMALL, classifiers=("lr",), ratios=(), balance=False, repeats=1,
                              gan_seeds=1, n_generated=4, conditions=("real", "real+gen"),
                              joblib_backend="threading"))
    with refgan.using_backend("numpy"):
        res = run_study(cfg, tmp_path, gan_step=stub_gan, dataset=ds, log=lambda m: None)
    res = res.to_dict(samples=True)
    page = (tmp_path / "report.html").read_text()
    assert not _markup_injected(page), _markup_injected(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
    # values the report did not write, planted where a damaged or hand-made results
    # file could hold them: provenance, classifier and metric names, conditions
    res["provenance"] = dict(res.get("provenance") or {}, command="refgan study --data '<script>x'",
                             refgan="<b>run</b>")
    res["config"]["joblib_backend"] = "<img src=x onerror=alert(1)>"
    res["gan_description"] = "<script>alert(1)</script>"
    res["dataset"]["class_counts"] = {h: 1 for h in HOSTILE}
    res["gan_parents"] = ["<b>run</b>"]
    page = report.render(StudyResults.from_dict(res))
    assert not _markup_injected(page), _markup_injected(page)
    # the page's own markup is intact: escaping touched the values only
    assert page.count("<h2>") >= 5 and re.search(r"<table>", page)


def test_esc_escapes_every_kind_of_value():
    assert report.esc("<a href='x'>&</a>") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;"
    assert report.esc(3) == "3" and report.esc(None) == "None"
    assert report.esc(np.float64(0.5)) == "0.5"
