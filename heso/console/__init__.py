"""The web console: approvers and operators in a browser, served by the same Flask app.

Server-rendered Jinja pages with htmx (vendored in ``static/``: no CDN, no build step). Every
page reads and writes through the same services as the REST API, authenticated by the
member's session cookie (``heso.auth.sessions``): a console action is the same ledger entry,
webhook and Slack update as the API call it mirrors. ``base.py`` holds the blueprint, the
sign-in gate and the security headers; each page group has its own module.
"""
