"""Presets, links, code and the Space in a real headless Chromium."""

import json
import re

from playwright.sync_api import expect

from fewshot import presets
from tests.conftest import ARTIFACTS
from tests.test_browser import choose, open_app, open_section, set_number, set_text

SECRET = "hf_secret_token_value_123"


def field(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def code_text(page, elem_id: str) -> str:
    """All of a code box's text (the editor draws only the lines in view, so make the view tall)."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 8000})
    page.wait_for_timeout(300)
    text = page.locator(f"#{elem_id}").inner_text()
    page.set_viewport_size(size)
    return text


def import_file(page, path) -> None:
    with page.expect_file_chooser() as chooser:
        page.click("#import")
    chooser.value.set_files(str(path))


def copy_link(page) -> str:
    page.click("#copy-link")
    link = field(page, "link")
    expect(link).to_have_value(re.compile(r"^https?://.*\?(state|preset)="))
    return link.input_value()


def test_a_link_reopens_the_edited_state_in_a_fresh_browser(page, browser, app_url):
    open_app(page, app_url)
    set_text(page, "task", "Label each tweet: positive or negative. Quotes \" and ### stay.")
    set_text(page, "query", "Ünïcode ✓ and a\nsecond line")
    page.get_by_label("Edit raw prompt").check()
    preview = field(page, "preview")
    set_text(page, "preview", preview.input_value().replace("Sentiment: neutral", "Sentiment: mixed"))
    page.get_by_label("Edit raw prompt").uncheck()
    expect(page.locator("#examples")).to_contain_text("mixed")
    set_number(page, "c1-temperature", 0.7)
    set_number(page, "c2-max_new_tokens", 5)
    set_text(page, "c0-end_sequence", "###|\\n\\n")
    open_section(page, "Backends", "eA-url")
    set_text(page, "eA-token", SECRET)  # planted: the link below must not carry it
    expect(field(page, "eA-token")).to_have_value(SECRET)
    open_section(page, "Save · share · code", "preset-name")
    link = copy_link(page)
    assert "?state=" in link and SECRET not in link
    assert SECRET not in presets.decode_state(link.split("?state=")[1]).model_dump_json()

    fresh = browser.new_context(viewport={"width": 1440, "height": 1100}).new_page()
    open_app(fresh, link)
    expect(field(fresh, "task")).to_have_value("Label each tweet: positive or negative. Quotes \" and ### stay.")
    expect(field(fresh, "query")).to_have_value("Ünïcode ✓ and a\nsecond line")
    expect(fresh.locator("#examples")).to_contain_text("mixed")
    expect(fresh.locator("#c1-temperature input[type=number]")).to_have_value("0.7")
    expect(fresh.locator("#c2-max_new_tokens input[type=number]")).to_have_value("5")
    expect(field(fresh, "c0-end_sequence")).to_have_value("###|\\n\\n")
    fresh.screenshot(path=ARTIFACTS / "opened-link.png", full_page=True)
    fresh.context.close()


def test_a_tampered_link_says_so_and_opens_the_default(page, app_url):
    good = presets.encode_state(presets.find("translate-en-fr"))
    page.goto(app_url + "?state=" + good[:-15])  # cut when copied
    expect(page.get_by_text(re.compile("damaged or incomplete")).first).to_be_visible(timeout=30_000)
    expect(field(page, "query")).to_have_value(presets.find("sentiment").query)
    page.goto(app_url + "?preset=does-not-exist")
    expect(page.get_by_text(re.compile("There is no preset 'does-not-exist' here")).first).to_be_visible(timeout=30_000)


def test_save_rename_and_delete_a_preset(page, app_url, app_presets_dir):
    open_app(page, app_url)
    set_text(page, "query", "Saved query")
    open_section(page, "Save · share · code", "preset-name")
    set_text(page, "preset-name", "My tweets")
    page.click("#save")
    expect(page.get_by_text("Saved “My tweets”").first).to_be_visible()
    assert json.loads((app_presets_dir / "my-tweets.json").read_text())["query"] == "Saved query"
    assert copy_link(page).endswith("?preset=my-tweets")

    open_app(page, app_url)  # a new page, back on the default preset
    choose(page, "preset", "My tweets (saved)")
    expect(field(page, "query")).to_have_value("Saved query")
    open_section(page, "Save · share · code", "preset-name")
    set_text(page, "preset-name", "Tweets v2")
    page.click("#rename")
    expect(page.get_by_text("Renamed to “Tweets v2”").first).to_be_visible()
    assert (app_presets_dir / "tweets-v2.json").exists() and not (app_presets_dir / "my-tweets.json").exists()
    page.click("#delete")
    expect(page.get_by_text("Deleted").first).to_be_visible()
    assert not (app_presets_dir / "tweets-v2.json").exists()

    choose(page, "preset", "Tweet sentiment")
    expect(field(page, "query")).to_have_value(presets.find("sentiment").query)  # loaded: typing is not overwritten
    set_text(page, "preset-name", "Tweet sentiment")
    page.click("#save")
    expect(page.get_by_text("built-in preset, which cannot be changed").first).to_be_visible()


def test_export_then_import_a_preset_file(page, app_url, tmp_path):
    open_app(page, app_url)
    set_text(page, "query", "Exported query")
    open_section(page, "Save · share · code", "preset-name")
    with page.expect_download() as download:
        page.click("#export")
        page.locator("#export-file a").first.click()
    exported = tmp_path / "exported.json"
    download.value.save_as(exported)
    data = json.loads(exported.read_text())
    assert data["query"] == "Exported query" and presets.parse_preset(exported.read_text()).query == "Exported query"

    data["query"] = "Imported query"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))
    open_app(page, app_url)
    open_section(page, "Save · share · code", "preset-name")
    import_file(page, changed)
    expect(field(page, "query")).to_have_value("Imported query")

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**data, "columns": [{"temperature": 7}]}))
    import_file(page, broken)
    message = re.compile(r"columns\.0\.temperature must be less than or equal to 2")
    expect(page.get_by_text(message).first).to_be_visible()
    expect(field(page, "query")).to_have_value("Imported query")  # nothing lost


def test_code_links_and_exports_never_carry_a_token(page, app_url, replay, tmp_path):
    open_app(page, app_url)
    open_section(page, "Backends", "eA-url")
    choose(page, "eA-kind", "TGI / Hugging Face endpoint")
    set_text(page, "eA-url", replay.url)
    set_text(page, "eA-token", SECRET)
    choose(page, "c1-backend", f"A: tgi {replay.url}")
    open_section(page, "Save · share · code", "preset-name")
    page.click("#get-code")
    expect(page.locator("#code-python")).to_contain_text("def post(url, body, token_variable=None)")
    page.screenshot(path=ARTIFACTS / "share.png", full_page=True)
    python, curl = code_text(page, "code-python"), code_text(page, "code-curl")
    assert f"{replay.url}/generate" in python and '"FEWSHOT_API_KEY"' in python and python.count("# Column") == 3
    assert "curl -s" in curl and "$FEWSHOT_API_KEY" in curl
    assert SECRET not in python and SECRET not in curl
    link = copy_link(page)
    assert SECRET not in link
    state = presets.decode_state(link.split("?state=")[1])
    assert state.endpoints["A"].url == replay.url and state.columns[1].backend == "A"
    with page.expect_download() as download:
        page.click("#export")
        page.locator("#export-file a").first.click()
    download.value.save_as(tmp_path / "with-endpoint.json")
    assert SECRET not in (tmp_path / "with-endpoint.json").read_text()


def test_on_a_space_links_point_at_the_space_page(page, space_app_url):
    open_app(page, space_app_url)
    open_section(page, "Save · share · code", "preset-name")
    page.click("#copy-link")
    expect(field(page, "link")).to_have_value("https://huggingface.co/spaces/fewshot/playground?preset=sentiment")
    set_text(page, "query", "changed")
    page.click("#copy-link")
    expect(field(page, "link")).to_have_value(re.compile(r"^https://huggingface\.co/spaces/fewshot/playground\?state=1\."))


def test_after_opening_a_link_the_page_can_be_saved_and_shared_again(page, app_url, app_presets_dir):
    state = presets.find("keywords").model_copy(update={"query": "From a link", "samples": 3,
                                                        "description": "shared by a teammate"})
    open_app(page, app_url + "?state=" + presets.encode_state(state))
    expect(field(page, "query")).to_have_value("From a link")
    expect(page.locator("#samples input[type=number]")).to_have_value("3")
    open_section(page, "Save · share · code", "preset-name")
    expect(field(page, "preset-description")).to_have_value("shared by a teammate")
    reshared = copy_link(page)
    assert presets.decode_state(reshared.split("?state=")[1]) == state
    set_text(page, "preset-name", "From the link")
    page.click("#save")
    expect(page.get_by_text("Saved “From the link”").first).to_be_visible()
    saved = json.loads((app_presets_dir / "from-the-link.json").read_text())
    assert saved["samples"] == 3 and saved["description"] == "shared by a teammate"
    page.click("#delete")
    expect(page.get_by_text("Deleted").first).to_be_visible()
    assert "?state=" in copy_link(page)  # still works with no preset selected


def test_a_preset_broken_on_disk_says_which_file_and_field(page, app_url, app_presets_dir):
    open_app(page, app_url)
    open_section(page, "Save · share · code", "preset-name")
    set_text(page, "preset-name", "Soon broken")
    page.click("#save")
    expect(page.get_by_text("Saved “Soon broken”").first).to_be_visible()
    path = app_presets_dir / "soon-broken.json"
    path.write_text(path.read_text().replace('"query"', '"qeury"'))
    choose(page, "preset", "Soon broken (saved)")
    expect(page.get_by_text(re.compile(r"soon-broken\.json.*unknown field 'qeury'")).first).to_be_visible()
    expect(field(page, "query")).to_have_value(presets.find("sentiment").query)  # the page is untouched
    path.unlink()


def test_raw_mode_locks_the_fields_it_would_overwrite(page, app_url):
    open_app(page, app_url)
    page.get_by_label("Edit raw prompt").check()
    expect(field(page, "task")).not_to_be_editable()
    expect(field(page, "query")).not_to_be_editable()
    page.get_by_label("Edit raw prompt").uncheck()
    expect(field(page, "task")).to_be_editable()
    expect(field(page, "query")).to_be_editable()
