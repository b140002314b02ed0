// The transport against a tiny local HTTP server (no HESO): 429/503 retried after Retry-After
// with the same Idempotency-Key, the error envelope mapped to typed errors, an unreachable server.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import {
  HesoClient, HesoError, NotFound, RateLimited, ServerError, ServiceUnavailable, TransportError, Unauthorized,
  ValidationFailed, parseRetryAfter,
} from "../dist/index.js";

/** Answers queued per test: each request takes the next one; every request is recorded. */
let answers = [];
const seen = [];
const server = createServer((request, response) => {
  let body = "";
  request.on("data", (chunk) => { body += chunk; });
  request.on("end", () => {
    seen.push({ method: request.method, url: request.url, headers: request.headers, body });
    const { status = 200, headers = {}, json, text } = answers.shift() ?? { status: 500, text: "no answer queued" };
    response.writeHead(status, { "Content-Type": text === undefined ? "application/json" : "text/html", ...headers });
    response.end(text ?? JSON.stringify(json));
  });
});
let endpoint;

before(async () => {
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${server.address().port}`;
});
after(() => new Promise((resolve) => server.close(resolve)));

/** A client whose waits are recorded (milliseconds) instead of slept. */
function recording() {
  const waits = [];
  const heso = new HesoClient({ apiKey: "heso_k_s", endpoint, sleep: async (ms) => { waits.push(ms); } });
  return { heso, waits };
}

const DECISION = { id: "dec_1", status: "pending", action: "Deploy", approvers: ["ops@example.com"] };

test("429 is retried after Retry-After, with the same Idempotency-Key; then the answer", async () => {
  seen.length = 0;
  answers = [
    { status: 429, headers: { "Retry-After": "2" }, json: { error: "RATE_LIMITED", message: "Slow down." } },
    { status: 503, headers: { "Retry-After": "1" }, json: { error: "SERVICE_UNAVAILABLE", message: "Busy." } },
    { status: 201, json: DECISION },
  ];
  const { heso, waits } = recording();
  const decision = await heso.createDecision({ action: "Deploy", approver: "ops@example.com", timeoutMinutes: 5 });
  assert.equal(decision.id, "dec_1");
  assert.equal(decision.settled, false);
  assert.deepEqual(waits, [2000, 1000]);
  assert.equal(seen.length, 3);
  const keys = seen.map((request) => request.headers["idempotency-key"]);
  assert.match(keys[0], /^sdk-[0-9a-f-]{36}$/);
  assert.deepEqual(new Set(keys).size, 1);
  assert.equal(seen[0].headers.authorization, "Bearer heso_k_s");
  assert.deepEqual(JSON.parse(seen[0].body), { action: "Deploy", approver: "ops@example.com", timeout_minutes: 5 });
});

test("429 past the retries is RateLimited with its Retry-After; a huge Retry-After is capped", async () => {
  answers = Array.from({ length: 4 }, () => ({
    status: 429, headers: { "Retry-After": "3600" }, json: { error: "RATE_LIMITED", message: "Slow down." },
  }));
  const { heso, waits } = recording();
  const error = await heso.getDecision("dec_1").catch((caught) => caught);
  assert.ok(error instanceof RateLimited && error instanceof HesoError);
  assert.equal(error.status, 429);
  assert.equal(error.retryAfter, 3600);
  assert.deepEqual(waits, [30000, 30000, 30000]);
});

test("without Retry-After the wait backs off; an explicit Idempotency-Key is kept", async () => {
  seen.length = 0;
  answers = [{ status: 429, json: { error: "RATE_LIMITED" } }, { status: 201, json: DECISION }];
  const { heso, waits } = recording();
  await heso.createDecision({ action: "Deploy", approver: "ops@example.com", idempotencyKey: "mine-1" });
  assert.equal(waits.length, 1);
  assert.ok(waits[0] >= 250 && waits[0] <= 500, String(waits[0]));
  assert.deepEqual(seen.map((request) => request.headers["idempotency-key"]), ["mine-1", "mine-1"]);
});

test("the envelope becomes its typed error: code, message, details, request id", async () => {
  answers = [
    { status: 422, headers: { "X-Request-Id": "req-9" }, json: {
      error: "VALIDATION_ERROR", message: "Invalid request.",
      details: { json: { urgency: ["Must be one of: low, medium, high, critical."] }, request_id: "req-9" } } },
    { status: 404, json: { error: "NOT_FOUND", message: "No decision 'dec_x'.", details: {} } },
    { status: 401, json: { error: "INVALID_KEY", message: "Unknown key." } },
    { status: 502, text: "<html>Bad gateway</html>" },
    { status: 418, json: { error: "TEAPOT", message: "A code this client does not know." } },
  ];
  const { heso } = recording();
  const invalid = await heso.getDecision("dec_1").catch((caught) => caught);
  assert.ok(invalid instanceof ValidationFailed);
  assert.equal(invalid.code, "VALIDATION_ERROR");
  assert.equal(invalid.serverMessage, "Invalid request.");
  assert.deepEqual(invalid.details.json, { urgency: ["Must be one of: low, medium, high, critical."] });
  assert.equal(invalid.requestId, "req-9");
  const missing = await heso.getDecision("dec_x").catch((caught) => caught);
  assert.ok(missing instanceof NotFound);
  assert.equal(missing.message, "NOT_FOUND (404): No decision 'dec_x'.");
  const unknownKey = await heso.getDecision("dec_1").catch((caught) => caught);
  assert.ok(unknownKey instanceof Unauthorized);
  assert.equal(unknownKey.code, "INVALID_KEY");
  const gateway = await heso.getDecision("dec_1").catch((caught) => caught);
  assert.ok(gateway instanceof ServerError && !(gateway instanceof ServiceUnavailable));
  assert.equal(gateway.code, "INTERNAL_ERROR");
  assert.equal(gateway.status, 502);
  const teapot = await heso.getDecision("dec_1").catch((caught) => caught);
  assert.equal(teapot.constructor, HesoError);
  assert.equal(teapot.code, "TEAPOT");
});

test("a 200 that is not JSON is a ServerError; query parameters and ids are encoded", async () => {
  seen.length = 0;
  answers = [{ status: 200, text: "<html>proxy login</html>" }, { status: 200, json: { data: [], has_more: false } }];
  const { heso } = recording();
  await assert.rejects(heso.getDecision("dec/../x"), ServerError);
  assert.equal(seen[0].url, "/v1/decisions/dec%2F..%2Fx");
  const page = await heso.listDecisions({ status: "pending", limit: 5, approver: "a+b@example.com" });
  assert.deepEqual(page, { data: [], hasMore: false, nextCursor: null });
  assert.equal(seen[1].url, "/v1/decisions?status=pending&limit=5&approver=a%2Bb%40example.com");
});

test("an unreachable server is a TransportError; an idempotent request was retried first", async () => {
  const closed = createServer();
  await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  const waits = [];
  const heso = new HesoClient({ apiKey: "k", endpoint: `http://127.0.0.1:${port}`, sleep: async (ms) => { waits.push(ms); } });
  const error = await heso.getDecision("dec_1").catch((caught) => caught);
  assert.ok(error instanceof TransportError, String(error));
  assert.equal(waits.length, 3);
  waits.length = 0;
  // A POST without an Idempotency-Key is never re-sent: it may have been acted on.
  await assert.rejects(heso.executionRequest(["fs.read"]), TransportError);
  assert.equal(waits.length, 0);
});

test("parseRetryAfter: seconds, an HTTP date, nonsense", () => {
  const now = Date.parse("Mon, 07 Dec 2026 12:00:00 GMT");
  assert.equal(parseRetryAfter("5", now), 5);
  assert.equal(parseRetryAfter("Mon, 07 Dec 2026 12:00:30 GMT", now), 30);
  assert.equal(parseRetryAfter("Mon, 07 Dec 2026 11:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter("-1", now), null);
  assert.equal(parseRetryAfter("", now), null);
  assert.throws(() => new HesoClient({ endpoint: "ftp://x" }), TypeError);
});
