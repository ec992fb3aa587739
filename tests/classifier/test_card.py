"""The Markdown card says what a classifier scores: influence labels name their unit, probe, window and run."""

from mda_curate.classifier.card import render_markdown


def test_an_influence_card_names_what_its_labels_measured():
    card = {
        "name": "c",
        "influence": {
            "label_source": "influence",
            "run": "runs/r",
            "unit": "2.0",
            "checkpoint": "runs/r/step_5500",
            "window": [5500, 5750],
            "probe": {"probe": "induction"},
        },
    }
    text = render_markdown(card)
    purpose = text.split("\n")[2]
    assert "unit 2.0 (induction probe) over steps 5500:5750 of the run `runs/r`" in purpose
    assert "- window: steps 5500:5750" in text and "- checkpoint: runs/r/step_5500" in text


def test_a_card_without_influence_points_to_its_labels():
    text = render_markdown({"name": "proxy", "label_rule": {"description": "label 1 for code", "source": "domain"}})
    assert "the documents its labels mark as catalyst" in text.split("\n")[2]
    assert "## Influence" not in text and "Label source: **domain**." in text
