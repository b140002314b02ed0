// The client against a live HESO server: tests/client/test_typescript.py starts one and sets
// HESO_URL, HESO_AGENT_KEY, HESO_APPROVER_KEY (the personal key of HESO_APPROVER_EMAIL),
// HESO_ADMIN_KEY, HESO_TEAM_ID, HESO_OPERATOR_SEED and HESO_PY_RECEIPT (signed by the Python
// ReceiptSigner with that seed). Its policy allows fs.read and sends deploy.run to the approver.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, test } from "node:test";

import {
  HesoClient, NotFound, ReceiptSigner, SigningKey, Unauthorized, ValidationFailed, WaitTimeout, approvalBlock,
  receiptSigningBytes, signApproval,
} from "../dist/index.js";

const env = process.env;
const live = Boolean(env.HESO_URL);

describe("against a live server", { skip: live ? false : "HESO_URL is not set (tests/client/test_typescript.py sets it)" }, () => {
  /** A client whose requests are counted (to show a wait is one long-poll, not a loop). */
  function client(apiKey) {
    const requests = [];
    const counting = (url, init) => {
      requests.push(`${init?.method ?? "GET"} ${new URL(url).pathname}${new URL(url).search}`);
      return fetch(url, init);
    };
    return { heso: new HesoClient({ apiKey, endpoint: env.HESO_URL, fetch: counting }), requests };
  }
  const agent = () => client(env.HESO_AGENT_KEY).heso;
  const approver = () => client(env.HESO_APPROVER_KEY).heso;
  const ask = (action, extra = {}) => agent().createDecision({
    action, approver: env.HESO_APPROVER_EMAIL, context: { ticket: 42 }, urgency: "high", timeoutMinutes: 30, ...extra,
  });

  test("create, get and list decisions; an Idempotency-Key replays the same decision", async () => {
    const heso = agent();
    const created = await ask("Send the contract to Acme", { idempotencyKey: "ts-create-1" });
    assert.match(created.id, /^dec_/);
    assert.equal(created.status, "pending");
    assert.equal(created.settled, false);
    assert.deepEqual(created.context, { ticket: 42 });
    assert.ok(created.expiresAt instanceof Date && created.expiresAt > created.createdAt);
    const replayed = await ask("Send the contract to Acme", { idempotencyKey: "ts-create-1" });
    assert.equal(replayed.id, created.id);
    const read = await heso.getDecision(created.id);
    assert.equal(read.action, "Send the contract to Acme");
    assert.equal(read.urgency, "high");
    const second = await ask("Renew the certificate");
    const page = await heso.listDecisions({ status: "pending", limit: 1 });
    assert.equal(page.data.length, 1);
    assert.equal(page.hasMore, true);
    assert.ok(page.nextCursor);
    const all = [];
    for await (const decision of heso.iterDecisions({ status: "pending", limit: 1 })) all.push(decision.id);
    assert.ok(all.includes(created.id) && all.includes(second.id), all.join());
    assert.equal(new Set(all).size, all.length);
  });

  test("waitForDecision resolves when the approver approves during the wait (one long-poll)", async () => {
    const asked = await ask("Restart the web tier");
    const { heso, requests } = client(env.HESO_AGENT_KEY);
    const waiting = heso.waitForDecision(asked.id, { timeout: 30 });
    const resolved = await approver().resolveDecision(asked.id, "approve", { notes: "Go ahead." });
    assert.equal(resolved.status, "approved");
    const decision = await waiting;
    assert.equal(decision.status, "approved");
    assert.ok(decision.approved && decision.settled);
    assert.equal(decision.resolvedBy, env.HESO_APPROVER_EMAIL);
    assert.equal(decision.responseNotes, "Go ahead.");
    assert.deepEqual(requests, [`GET /v1/decisions/${asked.id}?wait=30`]);
  });

  test("waitForDecision times out cleanly with WaitTimeout; the decision stays pending", async () => {
    const asked = await ask("Rotate the keys");
    const { heso, requests } = client(env.HESO_AGENT_KEY);
    const error = await heso.waitForDecision(asked.id, { timeout: 0.5 }).catch((caught) => caught);
    assert.ok(error instanceof WaitTimeout, String(error));
    assert.equal(error.details.decision.status, "pending");
    assert.deepEqual(requests, [`GET /v1/decisions/${asked.id}?wait=1`]);
    assert.equal((await heso.cancelDecision(asked.id, "Not needed")).status, "cancelled");
  });

  test("execution requests: allow; pending until the approver approves, then allow on resume", async () => {
    const heso = agent();
    const read = await heso.executionRequest(["fs.read"], { adapterId: "ts-test", intent: "Read the config" });
    assert.equal(read.decision, "allow");
    assert.ok(read.allowed);
    assert.deepEqual(read.grantedCapabilities, ["fs.read"]);
    assert.equal(read.policyVersion, "v1");
    const asked = { adapterId: "ts-test", intent: "Deploy v2", context: { targets: ["staging"] } };
    const deploy = await heso.executionRequest(["deploy.run"], asked);
    assert.equal(deploy.decision, "pending");
    assert.match(deploy.decisionId, /^dec_/);
    // Resuming is re-sending the same request with the same execution id.
    const again = await heso.executionRequest(["deploy.run"], { ...asked, executionId: deploy.executionId });
    assert.equal(again.decisionId, deploy.decisionId);
    // With `wait`, a pending answer is waited for and the request re-sent: the approver answers
    // right after the first answer (still pending) reaches the client.
    const seen = [];
    const answering = async (url, init) => {
      const response = await fetch(url, init);
      seen.push(`${init.method} ${new URL(url).pathname}`);
      if (seen.length === 1) await approver().resolveDecision(deploy.decisionId, "approve");
      return response;
    };
    const waiting = new HesoClient({ apiKey: env.HESO_AGENT_KEY, endpoint: env.HESO_URL, fetch: answering });
    const resumed = await waiting.executionRequest(["deploy.run"], { ...asked, executionId: deploy.executionId, wait: 30 });
    assert.deepEqual(seen, ["POST /v1/execution/request", `GET /v1/decisions/${deploy.decisionId}`,
      "POST /v1/execution/request"]);
    assert.equal(resumed.decision, "allow");
    assert.equal(resumed.resolution, "approved");
    assert.equal((await heso.getExecution(deploy.executionId)).decision, "allow");
    const denied = await heso.executionRequest(["net.raw"], { adapterId: "ts-test" });
    assert.equal(denied.decision, "deny");
  });

  test("the error envelope as typed errors: 404, 422 with details, 401", async () => {
    const heso = agent();
    const missing = await heso.getDecision("dec_01JZZZZZZZZZZZZZZZZZZZZZZZ").catch((caught) => caught);
    assert.ok(missing instanceof NotFound, String(missing));
    assert.equal(missing.status, 404);
    assert.ok(missing.requestId);
    const invalid = await heso.createDecision({ action: "Deploy", approver: env.HESO_APPROVER_EMAIL, urgency: "whenever" })
      .catch((caught) => caught);
    assert.ok(invalid instanceof ValidationFailed, String(invalid));
    assert.equal(invalid.code, "VALIDATION_ERROR");
    assert.ok(JSON.stringify(invalid.details).includes("urgency"), JSON.stringify(invalid.details));
    const stranger = new HesoClient({ apiKey: "heso_nope_nope", endpoint: env.HESO_URL });
    const refused = await stranger.listDecisions().catch((caught) => caught);
    assert.ok(refused instanceof Unauthorized, String(refused));
    assert.equal(refused.status, 401);
    const anonymous = new HesoClient({ apiKey: null, endpoint: env.HESO_URL });
    await assert.rejects(anonymous.getDecision("dec_1"), Unauthorized);
  });

  test("receipts: the TypeScript signer's receipt equals the Python one and is accepted at L0", async () => {
    const operator = SigningKey.fromSeed(env.HESO_OPERATOR_SEED);
    const python = JSON.parse(env.HESO_PY_RECEIPT);
    const signer = new ReceiptSigner(operator, env.HESO_TEAM_ID, "deploy-bot");
    const signed = signer.sign(python.action, "v1", { policyRule: "deploys", issuedAt: python.issued_at });
    assert.equal(JSON.stringify(signed), JSON.stringify(python));
    assert.deepEqual(receiptSigningBytes(signed), receiptSigningBytes(python));
    const admin = new HesoClient({ apiKey: env.HESO_ADMIN_KEY, endpoint: env.HESO_URL });
    const registered = await admin.registerSigningKey("operator", signer.publicKeyHex, "ts-operator");
    assert.equal(registered.keyId, signer.keyId);
    const heso = agent();
    const pushed = await heso.pushReceipt(signed);
    assert.equal(pushed.accepted, true);
    assert.equal((await heso.getReceipt(pushed.receiptId)).trustLevel, "L0");
    // The Python receipt is the same receipt: the server already has it.
    const [duplicate, tampered, fresh] = await heso.pushReceipts([
      python, { ...signer.sign({ tool: "deploy" }, "v1"), agent_id: "someone-else" }, signer.sign({ tool: "scale" }, "v1"),
    ]);
    assert.equal(duplicate.rejectionReason, "duplicate");
    assert.equal(tampered.rejectionReason, "bad_signature");
    assert.equal(fresh.accepted, true);
    const refused = await heso.pushReceipt({ ...signed, action_hash: "0".repeat(64) }).catch((caught) => caught);
    assert.ok(refused instanceof ValidationFailed, String(refused));
    assert.equal(refused.code, "ACTION_HASH_MISMATCH");
  });

  test("receipts at L1: an approver's device key signs the approval; the receipt is accepted at L1", async () => {
    const admin = new HesoClient({ apiKey: env.HESO_ADMIN_KEY, endpoint: env.HESO_URL });
    const signer = new ReceiptSigner(SigningKey.generate(), env.HESO_TEAM_ID, "deploy-bot");
    await admin.registerSigningKey("operator", signer.publicKeyHex, "ts-operator-l1");
    const device = SigningKey.generate();
    await admin.registerSigningKey("approver", device.publicKeyHex, env.HESO_APPROVER_EMAIL, ["finance"]);
    const heso = agent();
    const action = { tool: "pay", args: { invoice: "INV-7", amount: 4800.5, currency: "EUR" } };
    const opened = await heso.openApproval(signer.sign(action, "v1", { policyRule: "deploys" }), "finance");
    assert.match(opened.approvalId, /^apr_/);
    assert.equal((await heso.getApproval(opened.approvalId)).outcome, "pending");
    const token = signApproval(device, opened.statement, "approved");
    await approver().submitApprovalToken(opened.approvalId, token);
    const settled = await heso.getApproval(opened.approvalId);
    assert.equal(settled.outcome, "approved");
    const receipt = signer.sign(action, "v1", { policyRule: "deploys", approval: approvalBlock(settled) });
    assert.equal(receipt.trust_level, "L1");
    const pushed = await heso.pushReceipt(receipt);
    assert.equal(pushed.accepted, true);
    assert.equal((await heso.getReceipt(pushed.receiptId)).trustLevel, "L1");
  });

  /** Run examples/typescript/guarded-command.mjs; its decision's id once it says it is waiting. */
  async function guarded(...command) {
    const child = spawn(process.execPath, [new URL("../../../examples/typescript/guarded-command.mjs", import.meta.url).pathname,
      "--approver", env.HESO_APPROVER_EMAIL, "--timeout", "60", "--", ...command],
    { env: { ...env, HESO_ENDPOINT: env.HESO_URL, HESO_API_KEY: env.HESO_AGENT_KEY } });
    let output = "";
    child.stderr.on("data", (chunk) => { output += chunk; });
    const decisionId = await new Promise((resolve, reject) => {
      child.stdout.on("data", (chunk) => {
        output += chunk;
        const found = /Decision (dec_\w+) is pending/.exec(output);
        if (found) resolve(found[1]);
      });
      child.on("exit", () => reject(new Error(`the example ended first:\n${output}`)));
    });
    return { decisionId, done: once(child, "exit").then(([code]) => ({ code, output })) };
  }

  test("the example runs the command once approved, the modified one when modified, none when denied", async () => {
    const node = process.execPath;
    const asked = ["-e", "console.log('ran as asked')"];
    const [approved, modified, denied] = await Promise.all([guarded(node, ...asked), guarded(node, ...asked),
      guarded(node, ...asked)]);
    const answer = approver();
    await answer.resolveDecision(approved.decisionId, "approve");
    await answer.resolveDecision(modified.decisionId, "modify",
      { modifiedAction: { command: [node, "-e", "console.log('ran as modified')"] } });
    await answer.resolveDecision(denied.decisionId, "deny", { notes: "Not today." });
    const [first, second, third] = await Promise.all([approved.done, modified.done, denied.done]);
    assert.equal(first.code, 0, first.output);
    assert.match(first.output, /ran as asked/);
    assert.equal(second.code, 0, second.output);
    assert.match(second.output, /ran as modified/);
    assert.doesNotMatch(second.output, /ran as asked/);
    assert.equal(third.code, 1, third.output);
    assert.match(third.output, /denied by sarah@example\.com: Not today\./);
    assert.doesNotMatch(third.output, /ran as asked/);
  });
});
