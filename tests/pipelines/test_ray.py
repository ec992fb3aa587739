"""The ray executor (the [ray] extra) on a local 2-CPU ray instance writes what the local executor writes."""

from pathlib import Path

import ray

from mda_curate import cli


def _outputs(folder: Path) -> dict[Path, bytes]:
    """Every file of a run except datatrove's logs (which hold timings)."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file() and "logs" not in p.parts}


def test_ray_run_matches_the_local_executor(corpus, classifier, tmp_path):
    threshold = sorted(classifier.scores(corpus).values())[len(corpus.docs) // 2]
    args = ["curate", "filter", str(corpus.folder), "--threshold", str(threshold), "--classifier", classifier.path]
    args += ["--tasks", "2"]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert cli.main([*args, "--executor", "ray", "--output", str(tmp_path / "ray")]) == 0
    finally:
        ray.shutdown()
    assert cli.main([*args, "--workers", "1", "--output", str(tmp_path / "local")]) == 0
    on_ray, local = _outputs(tmp_path / "ray"), _outputs(tmp_path / "local")
    assert set(on_ray) == {
        Path("stats.json"),
        Path("00000.jsonl"),
        Path("00001.jsonl"),
        *(Path("excluded") / f"{kind}_{rank:05d}.jsonl" for kind in ("rejected", "dropped") for rank in (0, 1)),
    }
    assert on_ray == local
