/** `HesoClient`: decisions, execution requests, approvals and receipts (as the Python `HesoClient`). */

import { randomUUID } from "node:crypto";

import { ValidationFailed, WaitTimeout } from "./errors.js";
import { Decision, ExecutionResult } from "./models.js";
import type { DecisionPage, JsonObject, PushResult } from "./models.js";
import type { Outcome, Receipt, SettledApproval } from "./receipts.js";
import { Transport } from "./transport.js";
import type { TransportOptions } from "./transport.js";

export const DEFAULT_ENDPOINT = "http://127.0.0.1:5000";
/** The server's long-poll ceiling, in seconds. */
export const MAX_WAIT = 60;
/** Added to a long-poll's wait for the request timeout: the answer comes at the wait's end. */
export const POLL_SLACK = 15;

export interface HesoClientOptions extends TransportOptions {
  /** Default: HESO_API_KEY. */
  apiKey?: string | null;
  /** Default: HESO_ENDPOINT, else http://127.0.0.1:5000. */
  endpoint?: string;
}

export interface CreateDecisionRequest {
  /** What the agent wants to do, as the approver reads it. */
  action: string;
  approver?: string;
  approvers?: string[];
  context?: unknown;
  urgency?: "low" | "medium" | "high" | "critical";
  timeoutMinutes?: number;
  channel?: string;
  options?: string[];
  callbackUrl?: string;
  quorum?: number;
  escalateTo?: string;
  escalateAfterMinutes?: number;
  /** Sent as Idempotency-Key; a fresh one when absent, so a retry never creates a second decision. */
  idempotencyKey?: string;
  /** Other fields of POST /v1/decisions, sent as they are (snake_case). */
  extra?: JsonObject;
}

export interface ListDecisionsQuery {
  status?: string;
  urgency?: string;
  approver?: string;
  /** "10m", "1h", "2d" or an RFC 3339 time. */
  since?: string;
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface ExecutionRequestOptions {
  adapterId?: string;
  /** Re-send the same id to resume; a fresh one when absent. */
  executionId?: string;
  intent?: string;
  /** Policy's context flags: external_network, writes_files, elevated_privileges, package_manager, targets. */
  context?: JsonObject;
  /** Seconds: wait for a pending answer's decision, then re-send to read the final allow or deny. */
  wait?: number;
  /** Other fields of POST /v1/execution/request (snake_case), e.g. provenance. */
  extra?: JsonObject;
}

function compact(body: Record<string, unknown>): JsonObject {
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined && value !== null));
}

function path(id: string): string {
  return encodeURIComponent(id);
}

/** A client for one HESO server and one API key. */
export class HesoClient {
  readonly transport: Transport;

  constructor(options: HesoClientOptions = {}) {
    const { apiKey, endpoint, ...transport } = options;
    this.transport = new Transport(endpoint ?? process.env["HESO_ENDPOINT"] ?? DEFAULT_ENDPOINT,
      apiKey !== undefined ? apiKey : (process.env["HESO_API_KEY"] ?? null), transport);
  }

  get apiKey(): string | null {
    return this.transport.apiKey;
  }

  // -- decisions ------------------------------------------------------------------------------

  /** Ask a human. An Idempotency-Key is always sent (a fresh one unless given). */
  async createDecision(request: CreateDecisionRequest): Promise<Decision> {
    const body = compact({
      ...request.extra, action: request.action, approver: request.approver, approvers: request.approvers,
      context: request.context, urgency: request.urgency, timeout_minutes: request.timeoutMinutes,
      channel: request.channel, options: request.options, callback_url: request.callbackUrl, quorum: request.quorum,
      escalate_to: request.escalateTo, escalate_after_minutes: request.escalateAfterMinutes,
    });
    const headers = { "Idempotency-Key": request.idempotencyKey ?? `sdk-${randomUUID()}` };
    return new Decision(await this.transport.request("POST", "/v1/decisions", { json: body, headers }));
  }

  async getDecision(decisionId: string): Promise<Decision> {
    return new Decision(await this.transport.request("GET", `/v1/decisions/${path(decisionId)}`));
  }

  /** One page of decisions, newest first (an agent's key sees its own). */
  async listDecisions(query: ListDecisionsQuery = {}): Promise<DecisionPage> {
    const answer = await this.transport.request("GET", "/v1/decisions", { params: { ...query } });
    const data = Array.isArray(answer["data"]) ? answer["data"] as JsonObject[] : [];
    return { data: data.map((item) => new Decision(item)), hasMore: answer["has_more"] === true,
      nextCursor: typeof answer["next_cursor"] === "string" ? answer["next_cursor"] : null };
  }

  /** Every decision matching `query`, page after page. */
  async *iterDecisions(query: ListDecisionsQuery = {}): AsyncGenerator<Decision> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.listDecisions({ ...query, cursor });
      yield* page.data;
      if (!page.hasMore || !page.nextCursor) return;
      cursor = page.nextCursor;
    }
  }

  async cancelDecision(decisionId: string, reason?: string): Promise<Decision> {
    return new Decision(await this.transport.request("POST", `/v1/decisions/${path(decisionId)}/cancel`,
      { json: reason ? { reason } : {} }));
  }

  /** Answer a decision as the member whose key this is (an approver's personal key). */
  async resolveDecision(decisionId: string, action: "approve" | "deny" | "modify",
                        options: { notes?: string; modifiedAction?: unknown } = {}): Promise<Decision> {
    const body = compact({ action, notes: options.notes, modified_action: options.modifiedAction });
    return new Decision(await this.transport.request("POST", `/v1/decisions/${path(decisionId)}/resolve`, { json: body }));
  }

  /**
   * Long-poll until the decision settles; resolve with it (whatever the outcome).
   *
   * `timeout` (seconds; none = until it settles or expires) bounds the whole wait; when it
   * runs out first, WaitTimeout is thrown (the decision is in `error.details.decision`). Each
   * request waits on the server (`?wait=`, at most 60 s), so this is never a busy loop.
   */
  async waitForDecision(decisionId: string, options: { timeout?: number } = {}): Promise<Decision> {
    const deadline = options.timeout === undefined ? null : performance.now() + options.timeout * 1000;
    for (;;) {
      const remaining = deadline === null ? MAX_WAIT : (deadline - performance.now()) / 1000;
      // Rounded up, never to 0: a fraction of a second left still waits on the server.
      const wait = Math.max(1, Math.min(MAX_WAIT, Math.ceil(remaining)));
      const body = await this.transport.request("GET", `/v1/decisions/${path(decisionId)}`,
        { params: { wait }, timeout: wait + POLL_SLACK });
      const decision = new Decision(body);
      if (decision.settled) return decision;
      if (deadline !== null && performance.now() >= deadline) {
        throw new WaitTimeout(`Decision ${decisionId} still ${decision.status} after ${options.timeout} s.`,
          { details: { decision: body } });
      }
    }
  }

  // -- execution requests -----------------------------------------------------------------------

  /**
   * Ask policy whether to run something: allow, deny, or pending (a human decides).
   * With `wait` (seconds), a pending answer is waited for and the request re-sent with the same
   * execution id to read the final allow or deny.
   */
  async executionRequest(capabilities: string[], options: ExecutionRequestOptions = {}): Promise<ExecutionResult> {
    const body = compact({
      ...options.extra, adapter_id: options.adapterId ?? "heso-typescript", requested_capabilities: capabilities,
      execution_id: options.executionId ?? `exe-${randomUUID()}`, intent: options.intent, context: options.context,
    });
    let result = new ExecutionResult(await this.transport.request("POST", "/v1/execution/request", { json: body }));
    if (result.decision === "pending" && options.wait !== undefined && result.decisionId) {
      await this.waitForDecision(result.decisionId, { timeout: options.wait });
      body["execution_id"] = result.executionId;
      result = new ExecutionResult(await this.transport.request("POST", "/v1/execution/request", { json: body }));
    }
    return result;
  }

  /** The current outcome of an execution request (read only). */
  async getExecution(executionId: string): Promise<ExecutionResult> {
    return new ExecutionResult(await this.transport.request("GET", `/v1/execution/${path(executionId)}`));
  }

  // -- receipts and approvals -------------------------------------------------------------------

  /** Register a public key (an admin's key): `kind` operator or approver; the key's view. */
  async registerSigningKey(kind: "operator" | "approver", publicKeyHex: string, name: string,
                           groups?: string[]): Promise<JsonObject> {
    return this.transport.request("POST", "/v1/keys/signing",
      { json: compact({ kind, publicKey: publicKeyHex, name, groups }) });
  }

  /**
   * Push one signed receipt; the server re-verifies it. A refused receipt throws
   * ValidationFailed whose `code` is the reason in capitals (BAD_SIGNATURE, UNKNOWN_KEY …).
   */
  async pushReceipt(receipt: Receipt): Promise<PushResult> {
    return await this.transport.request("POST", "/v1/receipts", { json: receipt }) as unknown as PushResult;
  }

  /** Push up to 1,000 receipts: one result per receipt, in order (some may be refused). */
  async pushReceipts(receipts: Receipt[]): Promise<PushResult[]> {
    const answer = await this.transport.request("POST", "/v1/receipts/batch", { json: { receipts } });
    if (!Array.isArray(answer["data"])) throw new ValidationFailed("Expected a list of results", { status: 200 });
    return answer["data"] as PushResult[];
  }

  /** An accepted receipt, with what the server derived (trustLevel …). */
  async getReceipt(receiptId: string): Promise<JsonObject> {
    return this.transport.request("GET", `/v1/receipts/${path(receiptId)}`);
  }

  /**
   * Open an approval for an operator-signed receipt, routed to the approvers of `routingHint`;
   * the answer's `statement` is what the approver signs (`signApproval`).
   */
  async openApproval(receipt: Receipt, routingHint: string,
                     options: { timeoutMinutes?: number; channel?: string; maxReceipts?: number } = {}): Promise<JsonObject> {
    return this.transport.request("POST", "/v1/approvals", {
      json: compact({ receipt, routingHint, timeoutMinutes: options.timeoutMinutes, channel: options.channel,
        maxReceipts: options.maxReceipts }),
    });
  }

  /** `{outcome, approval?}`: pending, or the settled approval (`approvalBlock` takes it). */
  async getApproval(approvalId: string): Promise<{ outcome: string; approval?: SettledApproval }> {
    return await this.transport.request("GET", `/v1/approvals/${path(approvalId)}`) as
      { outcome: string; approval?: SettledApproval };
  }

  /** Settle an approval with an approver's token (`signApproval`); the settled approval. */
  async submitApprovalToken(approvalId: string, token: string,
                            options: { outcome?: Outcome; keyId?: string } = {}): Promise<SettledApproval> {
    return await this.transport.request("POST", `/v1/approvals/${path(approvalId)}/token`,
      { json: compact({ token, outcome: options.outcome, keyId: options.keyId }) }) as SettledApproval;
  }
}
