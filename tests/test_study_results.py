"""The study's typed results and their files (refgan/study/results.py)."""
import json

from refgan.study import StudyResults
from refgan.study.results import _clean


def test_results_json_reads_back_into_the_same_results(study):
    """StudyResults.read(results.json) gives the objects run_study returned (NaN -> None
    -> NaN), so readers of the file get the types the report uses."""
    _, out, res, _ = study
    back = StudyResults.read(out)
    assert _clean(back.to_dict()) == json.loads((out / "results.json").read_text())
    assert back.table["lr"]["real"] == res.table["lr"]["real"]
    assert [c.label for c in back.comparisons["lr"]] == [c.label for c in res.comparisons["lr"]]
    assert back.gan_quality()[0].figures() == res.gan_quality()[0].figures()
