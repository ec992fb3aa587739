from mda_curate.validation.report import per_seed_table


def run(arm, seed, step, censored=False):
    return {"arm": arm, "seed": seed, "formation_step": step, "censored": censored}


def test_the_per_seed_table_shows_each_seeds_change_and_marks_censored_runs():
    summary = {
        "arms": {"baseline": {}, "targeted_removal": {}, "synthetic_augmentation": {}},
        "seeds": [{"seed": 0}, {"seed": 2}],
        "runs": [
            run("baseline", 0, 7000.0),
            run("targeted_removal", 0, 8000.0, censored=True),
            run("baseline", 2, 6000.0),
            run("targeted_removal", 2, 6600.0),
            run("synthetic_augmentation", 2, 4500.0),
        ],
    }
    assert per_seed_table(summary).splitlines() == [
        "| arm | seed 0 | seed 2 |",
        "|---|---|---|",
        "| baseline | 7,000 | 6,000 |",
        "| targeted_removal | >= 8,000 (+14.3%) | 6,600 (+10.0%) |",
        "| synthetic_augmentation | - | 4,500 (-25.0%) |",
    ]


def test_the_report_states_n_beside_every_interval_and_names_only_differences_that_exclude_zero():
    from mda_curate.validation.report import markdown
    from mda_curate.validation.stats import CENSORING, FORMATION_RULE, INTERVALS, SPEEDUP, RunResult, summarize_runs

    steps = {
        "baseline": (7000.0, 6600.0, 6900.0),
        "targeted_augmentation": (5500.0, 4800.0, 5100.0),
        "random_augmentation": (6000.0, 5400.0, 5500.0),
    }
    results = [
        RunResult(arm, seed, step, False, 0.3, 8000, {"prose": 3.5}, 8000, 3000, False)
        for arm, values in steps.items()
        for seed, step in enumerate(values)
    ]
    summary = {
        "experiment": "tiny",
        "setup": "Spec: `spec.toml` (cpu-tiny).",
        **summarize_runs(results),
        "runs": [r.to_json() for r in results],
        "formation_rule": FORMATION_RULE,
        "censoring": CENSORING,
        "speedup_definition": SPEEDUP,
        "intervals": {"method": INTERVALS, "confidence": 0.95, "over": "seeds"},
        "seeds": [
            {"seed": s, "run": "r", "window": [3000, 5000], "until": 8000, "unit": "1.2", "k": 1, "compared_at": 8000}
            for s in range(3)
        ],
        "icl_vs_induction_r": None,
        "icl_vs_induction_points": 0,
    }
    report = markdown(summary)
    # (7000-3000)/(5500-3000) = 1.6, 3600/1800 = 2.0, 3900/2100 = 1.857: mean 1.819
    assert "| targeted_augmentation | 3 | 5,133 [" in report and "1.819 [" in report and "] (n=3)" in report
    assert "| targeted_augmentation | random_augmentation | 3 | -500 [" in report  # -500, -600, -400 per seed
    assert "| earlier |" in report and "Student-t" in report
