import pytest
from hypothesis import given
from hypothesis import strategies as st

from fewshot.errors import PromptError
from fewshot.prompt import Example, FewShotPrompt, Template, parse

BLOG = Template(input_prefix="Tweet: ", output_prefix="\nSentiment: ", separator="\n###\n")
ARROW = Template(input_prefix="", output_prefix=" => ", separator="\n")


def sentiment(**kw) -> FewShotPrompt:
    return FewShotPrompt(
        task=kw.get("task", "Classify the sentiment."),
        examples=kw.get(
            "examples", (Example(input="I hate it.", output="negative"), Example(input="Yay", output="positive")),
        ),
        query=kw.get("query", "Incredible video"),
        template=BLOG,
    )


def test_render_follows_the_blog_format():
    assert sentiment().render() == (
        "Classify the sentiment.\n"
        "Tweet: I hate it.\nSentiment: negative\n###\n"
        "Tweet: Yay\nSentiment: positive\n###\n"
        "Tweet: Incredible video\nSentiment:"
    )


def test_render_arrow_format_without_input_prefix():
    p = FewShotPrompt(
        task="Translate English to French:",
        examples=(Example(input="sea otter", output="loutre de mer"),),
        query="cheese",
        template=ARROW,
    )
    assert p.render() == "Translate English to French:\nsea otter => loutre de mer\ncheese =>"


def test_zero_shot_and_no_task():
    p = FewShotPrompt(query="cheese", template=ARROW)
    assert p.render() == "cheese =>"
    assert sentiment(task="", examples=()).render() == "Tweet: Incredible video\nSentiment:"


def test_with_shots_keeps_the_first_examples():
    p = sentiment()
    assert p.with_shots(1).examples == p.examples[:1]
    assert p.with_shots(0).examples == ()
    assert p.with_shots(10).examples == p.examples


def test_check_refuses_an_empty_query():
    with pytest.raises(PromptError, match="query is empty"):
        sentiment(query="  ").check()
    sentiment().check()


def test_messages_map_examples_to_turns():
    assert sentiment().messages() == [
        {"role": "system", "content": "Classify the sentiment."},
        {"role": "user", "content": "I hate it."},
        {"role": "assistant", "content": "negative"},
        {"role": "user", "content": "Yay"},
        {"role": "assistant", "content": "positive"},
        {"role": "user", "content": "Incredible video"},
    ]


@pytest.mark.parametrize("template", [BLOG, ARROW, Template()])
@pytest.mark.parametrize("shots", [0, 1, 2])
def test_parse_inverts_render(template, shots):
    p = sentiment().model_copy(update={"template": template}).with_shots(shots)
    assert parse(p.render(), template) == p


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Tweet: hi\nSentiment: x\n###\nTweet: q", "should end with"),
        ("Tweet: hi\n###\nTweet: q\nSentiment:", "Example 1 does not follow"),
        ("Task\nHello\nSentiment:", "No line starts with the input prefix"),
        ("Tweet: a\nSentiment: b\n###\nQuery q\nSentiment:", "No line starts|query should start"),
    ],
)
def test_parse_says_which_part_does_not_fit(text, message):
    with pytest.raises(PromptError, match=message):
        parse(text, BLOG)


# Field text that cannot be confused with the template's own markers: no line breaks (every
# prefix and separator here has one, or is " => "), no ">" (so no " => "), and no task line that
# starts with an input prefix.
field = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r>"), max_size=30)
task_line = field.filter(lambda s: s and not s.startswith(("Tweet: ", "Input: ")))


@given(
    task=st.lists(task_line, max_size=3).map("\n".join),
    pairs=st.lists(st.tuples(field, field), max_size=5),
    query=field,
    template=st.sampled_from([BLOG, ARROW, Template()]),
)
def test_parse_render_round_trip(task, pairs, query, template):
    p = FewShotPrompt(
        task=task, examples=tuple(Example(input=a, output=b) for a, b in pairs), query=query, template=template
    )
    assert parse(p.render(), template) == p
