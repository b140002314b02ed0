/**
 * `heso.receipt/1` receipts (operator) and approval tokens (approver), signed with Ed25519
 * from `node:crypto`: the same bytes as the Python SDK's `ReceiptSigner` and `sign_approval`
 * (heso/client/receipts.py, heso/receipts/format.py, docs/receipts.md).
 *
 * - `action_hash` = lower-case hex BLAKE3 of the RFC 8785 canonical JSON of the action.
 * - A receipt's signature is Ed25519 over "heso.receipt/1\0" + the canonical receipt without
 *   its `signature` field.
 * - An approval token is Ed25519 over "heso.approval/1\0" + the canonical statement
 *   `{approval_id, action_hash, outcome, expires_at}`.
 * - A key's id is "key_" + the first 24 hex digits of BLAKE3 of the 32-byte public key.
 *
 * The private key never leaves this process: register `signer.publicKeyHex` once at
 * `POST /v1/keys/signing` (kind `operator`, an admin's key).
 */

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign, verify as edVerify } from "node:crypto";
import type { KeyObject } from "node:crypto";

import { blake3Hex } from "./blake3.js";
import { canonicalJson } from "./canonical.js";

export const FORMAT = "heso.receipt/1";
export const RECEIPT_PREFIX = new TextEncoder().encode("heso.receipt/1\0");
export const APPROVAL_PREFIX = new TextEncoder().encode("heso.approval/1\0");
export const OUTCOMES = ["approved", "denied"] as const;
export type Outcome = (typeof OUTCOMES)[number];

// PKCS#8 and SPKI wrappers of a raw Ed25519 key (RFC 8410): node:crypto imports DER, not raw bytes.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

function concat(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

function hexBytes(hex: string, length: number, what: string): Buffer {
  if (!new RegExp(`^[0-9a-fA-F]{${2 * length}}$`).test(hex)) throw new TypeError(`${what} must be ${length} bytes of hex`);
  return Buffer.from(hex, "hex");
}

/** `key_` + 24 hex digits of BLAKE3 of the raw public key, as the server derives it. */
export function keyId(publicKey: Uint8Array): string {
  return "key_" + blake3Hex(publicKey).slice(0, 24);
}

/** Lower-case hex BLAKE3 of the canonical JSON of `action` (MalformedError if it has none). */
export function actionHash(action: unknown): string {
  return blake3Hex(canonicalJson(action));
}

/** An Ed25519 key pair; the 32-byte seed is the private key (as pynacl's `SigningKey`). */
export class SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: Uint8Array;

  private constructor(privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== "ed25519" || privateKey.type !== "private") {
      throw new TypeError("an Ed25519 private key is needed");
    }
    this.privateKey = privateKey;
    const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
    this.publicKey = new Uint8Array(spki.subarray(SPKI_PREFIX.length));
  }

  static generate(): SigningKey {
    return new SigningKey(generateKeyPairSync("ed25519").privateKey);
  }

  /** From a 32-byte seed (bytes or 64 hex digits), e.g. one kept in a secret store. */
  static fromSeed(seed: Uint8Array | string): SigningKey {
    const raw = typeof seed === "string" ? hexBytes(seed, 32, "seed") : Buffer.from(seed);
    if (raw.length !== 32) throw new TypeError("seed must be 32 bytes");
    return new SigningKey(createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" }));
  }

  /** From a node:crypto Ed25519 private KeyObject (e.g. `createPrivateKey(pem)`). */
  static fromKeyObject(key: KeyObject): SigningKey {
    return new SigningKey(key);
  }

  /** The 32-byte seed: keep it secret. */
  get seed(): Uint8Array {
    return new Uint8Array(this.privateKey.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_PREFIX.length));
  }

  get publicKeyHex(): string {
    return Buffer.from(this.publicKey).toString("hex");
  }

  get keyId(): string {
    return keyId(this.publicKey);
  }

  /** Ed25519 over `message`: 128 lower-case hex digits. */
  sign(message: Uint8Array): string {
    return edSign(null, message, this.privateKey).toString("hex");
  }
}

/** Ed25519 verification of a hex signature with a raw 32-byte public key. */
export function verifySignature(publicKey: Uint8Array | string, message: Uint8Array, signatureHex: string): boolean {
  const raw = typeof publicKey === "string" ? hexBytes(publicKey, 32, "publicKey") : Buffer.from(publicKey);
  if (!/^[0-9a-f]{128}$/.test(signatureHex)) return false;
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
  return edVerify(null, message, key, Buffer.from(signatureHex, "hex"));
}

/** A settled approval as a receipt cites it (what lifts the receipt to L1). */
export interface ApprovalBlock {
  approval_id: string;
  outcome: Outcome;
  expires_at: string;
  approver_key_id: string;
  signature: string;
}

/** A `heso.receipt/1` receipt; `signature` is absent from a draft. */
export interface Receipt {
  format: typeof FORMAT;
  team_id: string;
  agent_id: string;
  action: unknown;
  action_hash: string;
  policy: { version: string; rule: string | null };
  trust_level: "L0" | "L1";
  approval: ApprovalBlock | null;
  issued_at: string;
  operator_key_id: string;
  signature?: string;
}

export interface SignOptions {
  /** The policy rule that allowed the action (`null` when none is named). */
  policyRule?: string | null;
  /** `approvalBlock()` of a settled approval: the receipt claims L1. */
  approval?: ApprovalBlock | null;
  /** ISO 8601 UTC with a `Z` (default: now, to the millisecond). */
  issuedAt?: string;
}

/** The receipt without `signature`. */
export function unsigned(receipt: Receipt): Receipt {
  const { signature: _signature, ...rest } = receipt;
  return rest;
}

/** What the operator signs: the receipt prefix and the canonical receipt without `signature`. */
export function receiptSigningBytes(receipt: Receipt): Uint8Array {
  return concat(RECEIPT_PREFIX, canonicalJson(unsigned(receipt)));
}

export interface ApprovalStatement {
  approval_id: string;
  action_hash: string;
  outcome?: string;
  expires_at: string;
}

/** What an approver signs: the approval prefix and the canonical statement with its outcome. */
export function approvalSigningBytes(statement: ApprovalStatement & { outcome: string }): Uint8Array {
  const { approval_id, action_hash, outcome, expires_at } = statement;
  return concat(APPROVAL_PREFIX, canonicalJson({ approval_id, action_hash, outcome, expires_at }));
}

/** Signs receipts for one team and agent with one operator key (as the Python `ReceiptSigner`). */
export class ReceiptSigner {
  constructor(readonly signingKey: SigningKey, readonly teamId: string, readonly agentId: string) {}

  get publicKeyHex(): string {
    return this.signingKey.publicKeyHex;
  }

  get keyId(): string {
    return this.signingKey.keyId;
  }

  /** The receipt without its signature (MalformedError if the action has no canonical form). */
  draft(action: unknown, policyVersion: string, options: SignOptions = {}): Receipt {
    const approval = options.approval ?? null;
    // The fields in the Python signer's order, so the JSON sent is the same text too.
    return {
      format: FORMAT, team_id: this.teamId, agent_id: this.agentId, action,
      action_hash: actionHash(action), policy: { version: policyVersion, rule: options.policyRule ?? null },
      trust_level: approval ? "L1" : "L0", approval: approval ? { ...approval } : null,
      issued_at: options.issuedAt ?? new Date().toISOString(), operator_key_id: this.keyId,
    };
  }

  /** A signed receipt; with `options.approval` (a settled approval's block) it claims L1. */
  sign(action: unknown, policyVersion: string, options: SignOptions = {}): Receipt {
    return this.signDraft(this.draft(action, policyVersion, options));
  }

  signDraft(receipt: Receipt): Receipt {
    const body = unsigned(receipt);
    return { ...body, signature: this.signingKey.sign(receiptSigningBytes(body)) };
  }
}

/**
 * The approver's token: Ed25519 over the statement (as `POST /v1/approvals` returned it) with
 * `outcome`, under the approval prefix; 128 hex digits. Made on the approver's own device.
 */
export function signApproval(signingKey: SigningKey, statement: ApprovalStatement, outcome: Outcome): string {
  if (!(OUTCOMES as readonly string[]).includes(outcome)) {
    throw new TypeError(`outcome must be one of ${OUTCOMES.join(", ")}, got ${String(outcome)}`);
  }
  return signingKey.sign(approvalSigningBytes({ ...statement, outcome }));
}

/** A settled approval as the server answers it (`GET /v1/approvals/{id}` or the token's answer). */
export interface SettledApproval {
  approvalId: string;
  outcome: string;
  expiresAt: string;
  approverKeyId: string | null;
  signature: string | null;
  [field: string]: unknown;
}

/**
 * The receipt's `approval` field from a settled approval: `GET /v1/approvals/{id}`'s whole
 * answer (`{outcome, approval}`) or its `approval`, or what submitting the token answered.
 * TypeError while no token has settled it (`{outcome: "pending"}`).
 */
export function approvalBlock(settled: SettledApproval | { outcome: string; approval?: SettledApproval }): ApprovalBlock {
  let view = settled as Partial<SettledApproval> & { approval?: SettledApproval };
  if (!("approvalId" in view)) {
    if (!view.approval || typeof view.approval !== "object") {
      throw new TypeError(`approval not settled by a token yet (outcome ${JSON.stringify(view.outcome)})`);
    }
    view = view.approval;
  }
  if (!view.approverKeyId || !view.signature) throw new TypeError("approval not settled by a token yet");
  return {
    approval_id: view.approvalId!, outcome: view.outcome as Outcome, expires_at: view.expiresAt!,
    approver_key_id: view.approverKeyId, signature: view.signature,
  };
}
