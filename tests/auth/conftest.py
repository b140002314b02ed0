import pytest


@pytest.fixture
def mail_app(app, smtp):
    """The app sending its sign-in and invite mail to the test SMTP server."""
    app.config["SMTP_URL"] = smtp.url
    return app
