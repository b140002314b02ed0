// Receipts against the published vectors (docs/test-vectors/heso-receipt-1.json, made by the
// Python ReceiptSigner): keys, canonical JSON, action hashes and signatures, byte for byte.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  APPROVAL_PREFIX, MalformedError, RECEIPT_PREFIX, ReceiptSigner, SigningKey, actionHash, approvalBlock,
  approvalSigningBytes, blake3Hex, canonicalJson, canonicalString, receiptSigningBytes, signApproval, verifySignature,
} from "../dist/index.js";

const vectors = JSON.parse(readFileSync(new URL("../../../docs/test-vectors/heso-receipt-1.json", import.meta.url), "utf8"));
const hex = (bytes) => Buffer.from(bytes).toString("hex");

test("prefixes and keys: public keys and key ids from the seeds", () => {
  assert.equal(hex(RECEIPT_PREFIX), vectors.prefixes.receipt);
  assert.equal(hex(APPROVAL_PREFIX), vectors.prefixes.approval);
  for (const key of Object.values(vectors.keys)) {
    const signingKey = SigningKey.fromSeed(key.seed);
    assert.equal(signingKey.publicKeyHex, key.public_key);
    assert.equal(signingKey.keyId, key.key_id);
    assert.equal(hex(signingKey.seed), key.seed);
  }
});

test("canonical JSON and action hashes", () => {
  for (const sample of vectors.canonical_json) {
    assert.equal(canonicalString(sample.input), sample.canonical_utf8);
    assert.equal(hex(canonicalJson(sample.input)), sample.canonical_hex);
    assert.equal(actionHash(sample.input), sample.action_hash);
  }
  // Keys sort by UTF-16 code units (RFC 8785 3.2.3): U+1F600 (a surrogate pair) before U+FB33.
  assert.equal(canonicalString({ "\uFB33": 1, "\u{1F600}": 2, a: { c: [1, { e: 2, d: 1 }], b: undefined } }),
    '{"a":{"c":[1,{"d":1,"e":2}]},"\u{1F600}":2,"\uFB33":1}');
});

test("values with no canonical form are refused, as the server refuses them", () => {
  for (const bad of [NaN, Infinity, -Infinity, "\ud800", { "\udc00": 1 }, [undefined], 1n, () => 1, new Date(0),
    new Map(), Symbol("s")]) {
    assert.throws(() => canonicalJson({ action: bad }), MalformedError, String(typeof bad));
  }
  const cycle = {};
  cycle.self = cycle;
  assert.throws(() => actionHash(cycle), MalformedError);
});

test("the L0 and L1 receipts are signed byte for byte as the Python signer signed them", () => {
  const operator = SigningKey.fromSeed(vectors.keys.operator.seed);
  for (const { name, receipt, signing_input_hex: signingInput, signature } of vectors.receipts) {
    const signer = new ReceiptSigner(operator, receipt.team_id, receipt.agent_id);
    const signed = signer.sign(receipt.action, receipt.policy.version,
      { policyRule: receipt.policy.rule, approval: receipt.approval, issuedAt: receipt.issued_at });
    assert.equal(hex(receiptSigningBytes(signed)), signingInput, name);
    assert.equal(signed.signature, signature, name);
    assert.equal(JSON.stringify(signed), JSON.stringify(receipt), `${name}: same fields, same order`);
    assert.ok(verifySignature(operator.publicKey, receiptSigningBytes(signed), signed.signature));
    assert.ok(!verifySignature(operator.publicKey, receiptSigningBytes({ ...signed, agent_id: "other" }), signed.signature));
  }
});

test("the approval token and the checkpoint hash", () => {
  const approver = SigningKey.fromSeed(vectors.keys.approver.seed);
  const { statement, signing_input_hex: signingInput, signature } = vectors.approval;
  assert.equal(hex(approvalSigningBytes(statement)), signingInput);
  const { outcome, ...opened } = statement; // as POST /v1/approvals answers it: without the outcome
  assert.equal(signApproval(approver, opened, outcome), signature);
  assert.throws(() => signApproval(approver, opened, "maybe"), TypeError);
  const { checkpoint, checkpoint_hash: checkpointHash } = vectors.checkpoint;
  const fields = { team_id: checkpoint.team_id, seq: checkpoint.seq, head_hash: checkpoint.head_hash,
    created_at: checkpoint.created_at };
  assert.equal(blake3Hex(Buffer.from(vectors.prefixes.checkpoint, "hex"), canonicalJson(fields)), checkpointHash);
});

test("approvalBlock takes a poll's answer or the settled approval, and refuses a pending one", () => {
  const settled = { approvalId: "apr_1", outcome: "approved", expiresAt: "2026-12-01T13:00:00.000Z",
    approverKeyId: "key_39833a149ece5611324ec9c4", signature: "ab".repeat(64), approver: "sarah@example.com" };
  const block = { approval_id: "apr_1", outcome: "approved", expires_at: "2026-12-01T13:00:00.000Z",
    approver_key_id: "key_39833a149ece5611324ec9c4", signature: "ab".repeat(64) };
  assert.deepEqual(approvalBlock(settled), block);
  assert.deepEqual(approvalBlock({ outcome: "approved", approval: settled }), block);
  assert.throws(() => approvalBlock({ outcome: "pending" }), TypeError);
});

test("a generated key signs what it verifies; a wrong seed is refused", () => {
  const key = SigningKey.generate();
  assert.equal(SigningKey.fromSeed(key.seed).publicKeyHex, key.publicKeyHex);
  const message = new TextEncoder().encode("hello");
  assert.ok(verifySignature(key.publicKeyHex, message, key.sign(message)));
  assert.throws(() => SigningKey.fromSeed("00"), TypeError);
});
