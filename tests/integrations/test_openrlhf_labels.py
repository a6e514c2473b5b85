"""judgelab.integrations.openrlhf: a label object a judge cannot read is refused naming its index
(in process a DataError; `judgelab serve --reward` answers 400 with it), instead of a verdict that
fails on it and a reward of 0 that looks like a score."""

from __future__ import annotations

import json

import pytest

from judgelab.errors import DataError
from judgelab.integrations.openrlhf import samples_from

GOOD = {"constraints": {"form": "poem", "lines": 4, "max_words": 40, "must_include": ["sea"]}, "family": "poem",
        "prompt_id": 7, "reference": "A poem."}


@pytest.mark.parametrize("label, message", [
    ({"constraints": ["x"]}, "'constraints' must be an object"),
    ({"constraints": {"max_words": "ten"}}, "'max_words'"),
    (json.dumps({"constraints": {"max_words": "ten"}}), "'max_words'"),  # as a JSON string (a dataset column)
    ({"constraints": {"max_word": 10}}, "unknown constraint 'max_word'"),
    ({"constraints": {"min_words": 50, "max_words": 10}}, "min_words > max_words"),
    ({"family": ["poem"]}, "'family' must be a string"),
    ({"prompt_id": True}, "'prompt_id' must be a string or an integer"),
    ({"reference": 3}, "'reference' must be a string"),
])
def test_a_malformed_label_object_is_a_data_error_naming_its_index(label, message) -> None:
    with pytest.raises(DataError, match=message) as err:
        samples_from(["Q A", "Q B"], ["Q", "Q"], [GOOD, label])
    assert err.value.where == "labels.1"


def test_well_formed_and_foreign_labels_still_pass() -> None:
    samples = samples_from(["Q A"] * 5, ["Q"] * 5, [GOOD, json.dumps(GOOD), "{not json: a reference", 42, None])
    assert samples[0].meta == {k: GOOD[k] for k in ("prompt_id", "family", "constraints")}
    assert samples[0].reference == samples[1].reference == "A poem." and samples[1].meta == samples[0].meta
    assert samples[2].reference == "{not json: a reference"
    assert samples[3].reference is None and samples[3].meta == {}  # a label judgelab has no use for: ignored


def test_null_constraints_from_a_struct_column_mean_absent() -> None:
    """A dataset's struct column gives every row every constraint field, null where a prompt has none."""
    label = {"family": "poem", "constraints": {"max_words": 40, "min_words": None, "must_include": None}}
    (sample,) = samples_from(["Q A"], ["Q"], [json.dumps(label)])
    assert sample.meta["constraints"] == {"max_words": 40}
