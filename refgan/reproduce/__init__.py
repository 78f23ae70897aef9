"""``refgan reproduce PAPER``: each source paper's protocol, end to end, on refgan.

One module per paper (:mod:`~refgan.reproduce.gaur`, :mod:`~refgan.reproduce.saquib`,
:mod:`~refgan.reproduce.georgiev`, :mod:`~refgan.reproduce.nizam`,
:mod:`~refgan.reproduce.guruswamy`), each with ``plan(scale, data, weights)``, the
training sets of one fold, its extra runs, its claims and its report sections; the
shared machinery (cross-validated fits, saved predictions, tables recomputed from
them, decisions, report) is :mod:`refgan.reproduce.runner`; the published numbers
are in :mod:`refgan.reproduce.published`.
"""
from refgan.reproduce import gaur, georgiev, guruswamy, nizam, saquib
from refgan.reproduce.runner import SCALES, Plan, deep_status, recompute, run_paper

PAPERS = {m.NAME: m for m in (gaur, saquib, georgiev, nizam, guruswamy)}

__all__ = ["PAPERS", "SCALES", "Plan", "deep_status", "recompute", "run_paper"]
