"""The README's results against the papers are the stored numbers, rendered, not typed."""

import json

from bench.papers_results import README, RESULTS, _losses, readme_section, render


def test_the_readme_section_is_the_stored_results_rendered():
    results = json.loads(RESULTS.read_text())
    assert {"help-nb201-paper", "help-fbnet-paper", "oneproxy-notebook"} <= set(results)
    assert readme_section(README.read_text()) == render(results), (
        "README's 'Results against the papers' differs from bench/results/papers.json: run "
        "`python -m bench.papers_results --warehouse DIR` after the protocols"
    )
    for name, result in results.items():
        assert name in result["command"] and result["seeds"] == 20


def test_losses_name_baselines_above_ours_by_more_than_the_margin():
    row = {"adaproxy": {"10": 0.90, "20": 0.95}, "flops": {"10": 0.92, "20": 0.955},
           "params": {"10": 0.5, "20": 0.5}, "raw_proxy": {}, "ridge": {"20": 0.97}}
    assert _losses(row, [10, 20], 0.96, "20") == ["flops (n=10)", "ridge (n=20)",
                                                  "the paper (n=20)"]
    assert _losses(row, [10, 20], None, None) == ["flops (n=10)", "ridge (n=20)"]
