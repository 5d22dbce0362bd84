import pytest
from pydantic import ValidationError

from fewshot import feedback
from fewshot.backends import BackendSpec
from fewshot.settings import GenerationSettings


def entry(**kw):
    return feedback.Feedback(**{
        "rating": "bad", "prompt": "Tweet: x\nSentiment:", "completion": "negative",
        "settings": GenerationSettings(), "backend": BackendSpec(kind="tgi", url="http://h:8080"), **kw,
    })


def test_feedback_is_appended_and_read_back(tmp_path):
    feedback.record(entry(), tmp_path)
    feedback.record(entry(rating="good", completion="positive"), tmp_path)
    rows = feedback.read(tmp_path)
    assert [(r.rating, r.completion) for r in rows] == [("bad", "negative"), ("good", "positive")]
    assert rows[0].backend.url == "http://h:8080" and rows[0].time


def test_a_record_has_no_place_for_a_token():
    with pytest.raises(ValidationError, match="token"):
        entry(token="hf_abc")
    with pytest.raises(ValidationError):
        feedback.Feedback.model_validate({**entry().model_dump(), "backend": {"kind": "tgi", "token": "x"}})
    with pytest.raises(ValidationError):
        entry(rating="meh")
