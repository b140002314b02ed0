"""docs/receipts.md's SDK examples, read from the guide and run against a real server.

The first block signs an L0 receipt into the outbox and flushes it; the second goes from L0
to L1 through an approval. Only the guide's placeholders are filled in (seed, team id,
URL, outbox path, the elided action arguments) and the keys registered as its comment says.
"""

from __future__ import annotations

import re
from pathlib import Path

from nacl.signing import SigningKey

from heso.auth import members
from heso.extensions import db
from tests.agents.conftest import live_server  # noqa: F401 - the fixture: the app behind a real HTTP server
from tests.policy.bundles import bundle, upload
from tests.receipts.helpers import register

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "receipts.md"


def sdk_blocks() -> list[str]:
    text = GUIDE.read_text()
    return re.findall(r"```python\n(.*?)```", text[text.index("## The SDK"):], re.S)


def test_the_sdk_blocks_push_an_l0_then_an_l1_receipt(app, client, live_server, team, tmp_path):  # noqa: F811 - fixture
    signing, l0_to_l1 = sdk_blocks()[:2]
    assert upload(client, team, bundle("v3")).status_code in (200, 201)  # the policy_version the guide signs
    code = (signing.replace("team_01J…", team.id).replace("https://heso.internal", live_server)
            .replace("/var/lib/agent/receipts.db", str(tmp_path / "receipts.db"))
            .replace("{...}", '{"service": "api"}'))
    before, _, after = code.partition("# once:")
    namespace = {"seed": bytes(range(32)), "api_key": team.keys["agent"]}
    exec(before, namespace)  # noqa: S102 - the guide's own code
    register(client, team, "operator", namespace["signer"].signing_key, name="deploy-bot")  # what "# once:" says
    exec(after.split("\n", 1)[1], namespace)  # noqa: S102 - the rest of the block
    assert namespace["result"].delivered == 1 and namespace["result"].rejected == 0, namespace["result"]

    approver_key = SigningKey(bytes(range(1, 33)))
    with app.app_context():  # an approver key's name is a member of the team (approvers are people)
        members.add(team.id, "cfo@example.com", "approver", status="active")
        db.session.commit()
    register(client, team, "approver", approver_key, name="cfo@example.com", groups=["finance"])
    namespace.update(approver_key=approver_key, transport=namespace["outbox"].transport,
                     action={"tool": "pay", "args": {"amount": 100}})
    exec(l0_to_l1, namespace)  # noqa: S102 - the guide's own code
    pushed = namespace["outbox"].flush()
    assert pushed.delivered == 1 and pushed.rejected == 0, pushed
    levels = [r["trustLevel"] for r in client.get("/v1/receipts", headers=team.headers("ops")).json["data"]]
    assert sorted(levels) == ["L0", "L1"]
