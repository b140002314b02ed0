"""Channel settings (forms generated from a plugin's config_schema, secrets write-only) and team
settings: in Chromium, and with the test client for roles, CSRF and bad input."""

from __future__ import annotations

import marshmallow as ma
import pytest
from playwright.sync_api import expect

import heso.channels.api as api
from heso.channels import registry
from heso.channels import service as channels
from tests.console.approver import signed_in
from tests.helpers import installed_entry_points

TOKEN = "probe-token-that-must-never-show"


class ProbeConfigSchema(ma.Schema):
    """A third-party channel's settings: one field of each kind the form generator knows."""

    class Meta:
        unknown = ma.RAISE

    endpoint = ma.fields.Url(required=True, metadata={"description": "Where the probes are posted"})
    contact = ma.fields.Email(load_default=None, allow_none=True)
    retries = ma.fields.Integer(load_default=3, strict=True, validate=ma.validate.Range(min=0, max=10))
    verbose = ma.fields.Boolean(load_default=False)
    mode = ma.fields.String(load_default="safe", validate=ma.validate.OneOf(["fast", "safe"]))
    rooms = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=20)), load_default=list)
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=8, max=100))


class ProbeChannel(api.ChannelPlugin):
    name = "probe"
    config_schema = ProbeConfigSchema
    secret_fields = frozenset({"token"})

    def send(self, notification: api.Notification) -> api.DeliveryResult:
        return api.DeliveryResult(ok=True)


@pytest.fixture
def probe_channel(tmp_path):
    """The probe channel installed through a real entry point, as a third party's would be."""
    with installed_entry_points(tmp_path, "heso-console-probe",
                                f"[heso.channels]\nprobe = {__name__}:ProbeChannel\n", registry):
        yield


def _config(client, team):
    return client.get("/v1/channels/probe/config", headers=team.headers("admin"))


def _form(csrf, **changes):
    form = {"csrf_token": csrf, "endpoint": "https://probe.example.com/in", "contact": "ops@example.com",
            "retries": "5", "verbose": "on", "mode": "fast", "rooms": "alpha\n\n beta \n", "token": TOKEN}
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


# --- in the browser -------------------------------------------------------------------------------


def test_a_third_party_channel_gets_a_form_that_saves_and_keeps_its_secret(probe_channel, page, sign_in,
                                                                           client, team):
    sign_in(page, "admin@example.com", role="admin")
    page.goto("/settings/channels")
    page.get_by_role("link", name="Configure probe").click()
    expect(page).to_have_title("probe settings · HESO")
    expect(page.get_by_text("Where the probes are posted")).to_be_visible()
    page.get_by_label("Endpoint").fill("https://probe.example.com/in")
    page.get_by_label("Contact").fill("ops@example.com")
    page.get_by_label("Retries").fill("7")
    page.get_by_label("Verbose").check()
    page.get_by_label("Mode").select_option("fast")
    page.get_by_label("Rooms").fill("alpha\nbeta")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Save probe settings").click()
    expect(page.get_by_role("status")).to_have_text("Saved. Secrets are stored and not shown.")

    saved = _config(client, team).json["config"]
    assert saved == {"endpoint": "https://probe.example.com/in", "contact": "ops@example.com", "retries": 7,
                     "verbose": True, "mode": "fast", "rooms": ["alpha", "beta"], "token": "********"}
    assert TOKEN not in page.content()
    expect(page.get_by_label("Token")).to_have_value("")
    expect(page.get_by_label("Retries")).to_have_value("7")

    # Saved again with the secret left empty: the stored one is kept.
    page.get_by_label("Retries").fill("2")
    page.get_by_role("button", name="Save probe settings").click()
    expect(page.get_by_role("status")).to_be_visible()
    assert _config(client, team).json["config"]["retries"] == 2
    with client.application.app_context():
        assert channels.stored_config(team.id, "probe")["token"] == TOKEN



def test_team_settings_save_and_read_back_over_the_api(page, sign_in, client, team):
    sign_in(page, "admin@example.com", role="admin")
    page.goto("/settings")
    expect(page).to_have_title("Team settings · HESO")
    page.get_by_label("Outside approvers").check()
    page.get_by_role("button", name="Save team settings").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    assert client.get("/v1/teams/me/settings", headers=team.headers("admin")).json == {
        "outside_approvers": True, "self_approval": False}
    page.get_by_label("Outside approvers").uncheck()
    page.get_by_label("Self approval").check()
    page.get_by_role("button", name="Save team settings").click()
    expect(page.get_by_role("status")).to_be_visible()
    assert client.get("/v1/teams/me/settings", headers=team.headers("admin")).json == {
        "outside_approvers": False, "self_approval": True}


# --- with the test client -------------------------------------------------------------------------


def test_the_generated_form_has_one_input_per_field_of_the_right_kind(probe_channel, app, client, team):
    signed_in(app, client, team, "admin@example.com", "admin")
    listing = client.get("/settings/channels")
    assert listing.status_code == 200 and "/settings/channels/probe" in listing.text
    html = client.get("/settings/channels/probe").text
    assert 'type="url" id="cfg-probe-endpoint" name="endpoint"' in html
    assert 'type="email" id="cfg-probe-contact"' in html
    assert 'type="number" id="cfg-probe-retries"' in html and 'min="0"' in html and 'max="10"' in html
    assert 'type="checkbox" id="cfg-probe-verbose"' in html
    assert '<select id="cfg-probe-mode"' in html and '<option value="fast"' in html
    assert '<textarea id="cfg-probe-rooms"' in html and "One per line." in html
    assert 'type="password" id="cfg-probe-token"' in html
    assert html.count("(required)") == 2  # endpoint and token


def test_a_saved_secret_is_never_rendered_and_can_be_cleared_only_if_optional(probe_channel, app, client, team):
    csrf = signed_in(app, client, team, "admin@example.com", "admin")
    assert client.post("/settings/channels/probe", data=_form(csrf)).status_code == 303
    html = client.get("/settings/channels/probe").text
    assert TOKEN not in html and "A value is stored" in html
    assert "clear_token" not in html  # required: it cannot be cleared, only replaced
    assert _config(client, team).json["config"]["token"] == "********"


def test_malformed_input_is_422_with_messages_and_changes_nothing(probe_channel, app, client, team):
    csrf = signed_in(app, client, team, "admin@example.com", "admin")
    bad = client.post("/settings/channels/probe", data=_form(csrf, endpoint="not a url", retries="many",
                                                               mode="reckless", rooms="x" * 30, token=None))
    assert bad.status_code == 422
    assert "Not a valid URL." in bad.text and "Not a valid integer." in bad.text
    assert "Must be one of: fast, safe." in bad.text and "Line 1: Longer than maximum length 20." in bad.text
    assert "Missing data for required field." in bad.text  # the token: nothing stored to keep
    assert 'value="not a url"' in bad.text  # what was typed comes back
    assert _config(client, team).status_code == 404
    oversized = client.post("/settings/channels/probe", data=_form(csrf, token="t" * 100_000))
    assert oversized.status_code in (413, 422) and _config(client, team).status_code == 404
    assert client.get("/settings/channels/nosuch").status_code == 404


def test_only_admins_open_the_settings_pages(probe_channel, app, client, team):
    for role in ("viewer", "approver", "ops"):
        csrf = signed_in(app, client, team, f"{role}@example.com", role)
        for path in ("/settings", "/settings/channels", "/settings/channels/probe"):
            assert client.get(path).status_code == 403, (role, path)
        refused = client.post("/settings/channels/probe", data=_form(csrf))
        assert refused.status_code == 403 and "Your role cannot open this page." in refused.text
        assert client.post("/settings", data={"csrf_token": csrf, "outside_approvers": "on"}).status_code == 403
        assert "/settings/channels" not in client.get("/").text  # not in their navigation
    assert _config(client, team).status_code == 404
    assert client.get("/v1/teams/me/settings", headers=team.headers("admin")).json["outside_approvers"] is False


def test_posts_without_the_csrf_token_change_nothing(probe_channel, app, client, team):
    csrf = signed_in(app, client, team, "admin@example.com", "admin")
    form = _form(csrf)
    del form["csrf_token"]
    refused = client.post("/settings/channels/probe", data=form)
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert client.post("/settings", data={"outside_approvers": "on"}).status_code == 403
    assert client.post("/settings", data={"csrf_token": "forged", "outside_approvers": "on"}).status_code == 403
    assert _config(client, team).status_code == 404
    assert client.get("/v1/teams/me/settings", headers=team.headers("admin")).json["outside_approvers"] is False


def test_a_replayed_save_is_the_same_save(probe_channel, app, client, team):
    csrf = signed_in(app, client, team, "admin@example.com", "admin")
    for _ in range(2):
        assert client.post("/settings/channels/probe", data=_form(csrf, token=None if _ else TOKEN)).status_code == 303
    assert _config(client, team).json["config"]["retries"] == 5
    with app.app_context():
        assert channels.stored_config(team.id, "probe")["token"] == TOKEN


def test_built_in_channels_render_their_forms(app, client, team):
    signed_in(app, client, team, "admin@example.com", "admin")
    for name in registry.installed_channel_names() | {"callback"}:
        page = client.get(f"/settings/channels/{name}")
        assert page.status_code == 200, (name, page.text[:500])
        assert f"Save {name} settings" in page.text


def test_the_settings_pages_fit_a_phone(probe_channel, page, sign_in):
    sign_in(page, "admin@example.com", role="admin")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/settings/channels", "/settings/channels/probe", "/settings/channels/webhook", "/settings"):
        page.goto(path)
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path


def test_an_unconfigured_channel_shows_the_schemas_defaults(probe_channel, app, client, team):
    signed_in(app, client, team, "admin@example.com", "admin")
    html = client.get("/settings/channels/probe").text
    assert 'name="retries" value="3"' in html and '<option value="safe" selected>' in html
