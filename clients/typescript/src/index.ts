/**
 * `@heso/client`: ask a human before an agent acts. Node 20+, no runtime dependencies (the
 * global `fetch` and `node:crypto`).
 *
 *     import { HesoClient } from "@heso/client";
 *     const heso = new HesoClient({ apiKey: process.env.HESO_API_KEY, endpoint: "http://127.0.0.1:5000" });
 *     const asked = await heso.createDecision({ action: "Restart the web tier", approver: "ops@example.com" });
 *     const decision = await heso.waitForDecision(asked.id, { timeout: 600 });
 */

export { HesoClient, DEFAULT_ENDPOINT, MAX_WAIT, POLL_SLACK } from "./client.js";
export type { CreateDecisionRequest, ExecutionRequestOptions, HesoClientOptions, ListDecisionsQuery } from "./client.js";
export { Decision, ExecutionResult, OPEN_STATUSES } from "./models.js";
export type { DecisionPage, JsonObject, PushResult } from "./models.js";
export { Transport, parseRetryAfter } from "./transport.js";
export type { RequestOptions, TransportOptions } from "./transport.js";
export * from "./errors.js";
export {
  APPROVAL_PREFIX, FORMAT, OUTCOMES, RECEIPT_PREFIX, ReceiptSigner, SigningKey, actionHash, approvalBlock,
  approvalSigningBytes, keyId, receiptSigningBytes, signApproval, unsigned, verifySignature,
} from "./receipts.js";
export type { ApprovalBlock, ApprovalStatement, Outcome, Receipt, SettledApproval, SignOptions } from "./receipts.js";
export { MalformedError, canonicalJson, canonicalString } from "./canonical.js";
export { blake3, blake3Hex } from "./blake3.js";
