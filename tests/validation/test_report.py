from mda_curate.validation.report import per_seed_table


def run(arm, seed, step, censored=False):
    return {"arm": arm, "seed": seed, "formation_step": step, "censored": censored}


def test_the_per_seed_table_shows_each_seeds_change_and_marks_censored_runs():
    summary = {
        "arms": {"baseline": {}, "targeted_removal": {}, "synthetic_augmentation": {}},
        "seeds": [{"seed": 0}, {"seed": 2}],
        "runs": [run("baseline", 0, 7000.0), run("targeted_removal", 0, 8000.0, censored=True),
                 run("baseline", 2, 6000.0), run("targeted_removal", 2, 6600.0), run("synthetic_augmentation", 2, 4500.0)],
    }
    assert per_seed_table(summary).splitlines() == [
        "| arm | seed 0 | seed 2 |",
        "|---|---|---|",
        "| baseline | 7,000 | 6,000 |",
        "| targeted_removal | >= 8,000 (+14.3%) | 6,600 (+10.0%) |",
        "| synthetic_augmentation | - | 4,500 (-25.0%) |",
    ]
