/** Typed results: what the client's calls return. Each keeps the full server answer in `raw`. */

export type JsonObject = Record<string, unknown>;

/** Statuses in which a decision still waits for a human. */
export const OPEN_STATUSES: readonly string[] = ["pending", "escalated"];

function time(value: unknown): Date | null {
  return typeof value === "string" && value ? new Date(value) : null;
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

/** A decision as the server answered it (GET /v1/decisions/{id}). */
export class Decision {
  readonly id: string;
  /** pending | escalated | approved | denied | modified | expired | cancelled */
  readonly status: string;
  readonly action: string;
  readonly kind: string | null;
  readonly approver: string | null;
  readonly approvers: string[];
  readonly urgency: string | null;
  readonly context: unknown;
  readonly createdAt: Date | null;
  readonly expiresAt: Date | null;
  readonly resolvedAt: Date | null;
  readonly resolvedBy: string | null;
  readonly responseNotes: string | null;
  readonly modifiedAction: unknown;
  readonly answer: string | null;
  readonly raw: JsonObject;

  constructor(raw: JsonObject) {
    this.raw = raw;
    this.id = String(raw["id"]);
    this.status = String(raw["status"]);
    this.action = text(raw["action"]) ?? "";
    this.kind = text(raw["kind"]);
    this.approver = text(raw["approver"]);
    this.approvers = strings(raw["approvers"]);
    this.urgency = text(raw["urgency"]);
    this.context = raw["context"] ?? null;
    this.createdAt = time(raw["created_at"]);
    this.expiresAt = time(raw["expires_at"]);
    this.resolvedAt = time(raw["resolved_at"]);
    this.resolvedBy = text(raw["resolved_by"]);
    this.responseNotes = text(raw["response_notes"]);
    this.modifiedAction = raw["modified_action"] ?? null;
    this.answer = text(raw["answer"]);
  }

  /** No longer waiting for a human. */
  get settled(): boolean {
    return !OPEN_STATUSES.includes(this.status);
  }

  /** Approved as asked (`modified` is approved with changes: see `modifiedAction`). */
  get approved(): boolean {
    return this.status === "approved";
  }
}

/** One page of decisions, newest first; pass `nextCursor` as `cursor` for the next page. */
export interface DecisionPage {
  data: Decision[];
  hasMore: boolean;
  nextCursor: string | null;
}

/** Policy's answer to an execution request: `decision` is allow, deny or pending. */
export class ExecutionResult {
  readonly executionId: string;
  /** allow | deny | pending */
  readonly decision: string;
  readonly decisionId: string | null;
  readonly decisionStatus: string | null;
  readonly resolution: string | null;
  readonly grantedCapabilities: string[];
  readonly matchedRule: unknown;
  readonly policyVersion: string | null;
  readonly raw: JsonObject;

  constructor(raw: JsonObject) {
    this.raw = raw;
    this.executionId = String(raw["execution_id"]);
    this.decision = String(raw["decision"]);
    this.decisionId = text(raw["decision_id"]);
    this.decisionStatus = text(raw["decision_status"]);
    this.resolution = text(raw["resolution"]);
    this.grantedCapabilities = strings(raw["granted_capabilities"]);
    this.matchedRule = raw["matched_rule"] ?? null;
    this.policyVersion = text(raw["policy_version"]);
  }

  get allowed(): boolean {
    return this.decision === "allow";
  }
}

/** The server's verdict on a pushed receipt (one per receipt of a batch, in order). */
export interface PushResult {
  receiptId: string | null;
  accepted: boolean;
  /** Present only when refused: malformed, action_hash_mismatch, unknown_key, bad_signature … */
  rejectionReason?: string;
  message?: string;
}
