/**
 * Typed errors for every error HESO answers, and for the client's own failures.
 *
 * The server answers every error with one envelope, `{error: CODE, message, details}` (its
 * `details.request_id` is the answer's X-Request-Id). `fromEnvelope` turns it into the
 * HesoError subclass registered for CODE (`BY_CODE`), falling back on the HTTP status, so
 * callers write `if (e instanceof NotFound)` or read `e.code`. The classes and codes are the
 * Python SDK's (heso/client/errors.py).
 */

export interface HesoErrorOptions {
  code?: string;
  status?: number;
  details?: Record<string, unknown>;
  retryAfter?: number | null;
  requestId?: string | null;
  cause?: unknown;
}

/** An error answered by HESO (or by the transport on its way there). */
export class HesoError extends Error {
  static code = "ERROR";
  static status = 0;

  /** The envelope's `error` (VALIDATION_ERROR, NOT_FOUND …), or the client's own code. */
  readonly code: string;
  /** The HTTP status; 0 when no answer came. */
  readonly status: number;
  /** The envelope's `details` (`{}` when none): for a 422, the fields and what is wrong with each. */
  readonly details: Record<string, unknown>;
  /** Seconds, from a 429/503's Retry-After, else null. */
  readonly retryAfter: number | null;
  /** The server's id of the request (X-Request-Id), for its logs. */
  readonly requestId: string | null;

  constructor(message = "", options: HesoErrorOptions = {}) {
    const type = new.target as typeof HesoError;
    const code = options.code ?? type.code;
    const status = options.status ?? type.status;
    const text = message || code;
    super(status ? `${code} (${status}): ${text}` : `${code}: ${text}`, { cause: options.cause });
    this.name = type.name;
    this.code = code;
    this.status = status;
    this.details = options.details ?? {};
    this.retryAfter = options.retryAfter ?? null;
    const fromDetails = this.details["request_id"];
    this.requestId = options.requestId ?? (typeof fromDetails === "string" ? fromDetails : null);
    this.serverMessage = text;
  }

  /** The envelope's `message` alone (`message` is prefixed with the code and status). */
  readonly serverMessage: string;
}

/** The server could not be reached (connection refused, DNS, timeout) after the retries. */
export class TransportError extends HesoError { static override code = "TRANSPORT_ERROR"; }
export class BadRequest extends HesoError { static override code = "BAD_REQUEST"; static override status = 400; }
export class UnsupportedChannel extends BadRequest { static override code = "UNSUPPORTED_CHANNEL"; }
/** 401: no key, a malformed one, or one the server does not know. */
export class Unauthorized extends HesoError { static override code = "UNAUTHORIZED"; static override status = 401; }
export class InvalidKey extends Unauthorized { static override code = "INVALID_KEY"; }
export class KeyRevoked extends Unauthorized { static override code = "KEY_REVOKED"; }
export class KeyExpired extends Unauthorized { static override code = "KEY_EXPIRED"; }
export class BootstrapUnknown extends Unauthorized { static override code = "BOOTSTRAP_UNKNOWN"; }
export class BootstrapUsed extends Unauthorized { static override code = "BOOTSTRAP_USED"; }
export class BootstrapExpired extends Unauthorized { static override code = "BOOTSTRAP_EXPIRED"; }
export class Forbidden extends HesoError { static override code = "FORBIDDEN"; static override status = 403; }
/** The agent is paused: its execution requests are denied until it is active again. */
export class AgentPaused extends Forbidden { static override code = "AGENT_PAUSED"; }
export class NotFound extends HesoError { static override code = "NOT_FOUND"; static override status = 404; }
export class MethodNotAllowed extends HesoError { static override code = "METHOD_NOT_ALLOWED"; static override status = 405; }
export class Conflict extends HesoError { static override code = "CONFLICT"; static override status = 409; }
/** 409: the decision was settled already (`details` says how and by whom). */
export class AlreadyResolved extends Conflict { static override code = "ALREADY_RESOLVED"; }
export class ActiveKeyExists extends Conflict { static override code = "ACTIVE_KEY_EXISTS"; }
export class OrderClosed extends Conflict { static override code = "ORDER_CLOSED"; }
/** 410: the decision expired before anyone answered it. */
export class Expired extends HesoError { static override code = "EXPIRED"; static override status = 410; }
export class PayloadTooLarge extends HesoError { static override code = "PAYLOAD_TOO_LARGE"; static override status = 413; }
export class UnsupportedMediaType extends HesoError { static override code = "UNSUPPORTED_MEDIA_TYPE"; static override status = 415; }
/** 422: the request did not validate; `details` names the fields. A refused receipt's code is its reason. */
export class ValidationFailed extends HesoError { static override code = "VALIDATION_ERROR"; static override status = 422; }
export class RateLimited extends HesoError { static override code = "RATE_LIMITED"; static override status = 429; }
export class ServerError extends HesoError { static override code = "INTERNAL_ERROR"; static override status = 500; }
export class ServiceUnavailable extends ServerError { static override code = "SERVICE_UNAVAILABLE"; static override status = 503; }
/** `waitForDecision` gave up before the decision settled (it is still pending; `details.decision`). */
export class WaitTimeout extends HesoError { static override code = "WAIT_TIMEOUT"; }

type ErrorClass = typeof HesoError;

/** Server error code → class. */
export const BY_CODE: ReadonlyMap<string, ErrorClass> = new Map(
  [BadRequest, UnsupportedChannel, Unauthorized, InvalidKey, KeyRevoked, KeyExpired, BootstrapUnknown, BootstrapUsed,
    BootstrapExpired, Forbidden, AgentPaused, NotFound, MethodNotAllowed, Conflict, AlreadyResolved, ActiveKeyExists,
    OrderClosed, Expired, PayloadTooLarge, UnsupportedMediaType, ValidationFailed, RateLimited, ServerError,
    ServiceUnavailable].map((cls) => [cls.code, cls] as const),
);

/** HTTP status → class, for codes this version does not know and non-HESO answers (a proxy's 502). */
export const BY_STATUS: ReadonlyMap<number, ErrorClass> = new Map<number, ErrorClass>([
  [400, BadRequest], [401, Unauthorized], [403, Forbidden], [404, NotFound], [405, MethodNotAllowed],
  [409, Conflict], [410, Expired], [413, PayloadTooLarge], [415, UnsupportedMediaType], [422, ValidationFailed],
  [429, RateLimited], [503, ServiceUnavailable],
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The typed error for an error answer; `body` is the decoded JSON (or anything else). */
export function fromEnvelope(status: number, body: unknown, retryAfter: number | null = null,
                             requestId: string | null = null): HesoError {
  let code = "";
  let message = `HTTP ${status}`;
  let details: Record<string, unknown> = {};
  if (isRecord(body) && typeof body["error"] === "string") {
    code = body["error"];
    message = typeof body["message"] === "string" && body["message"] ? body["message"] : code;
    details = isRecord(body["details"]) ? body["details"] : {};
  }
  const cls = BY_CODE.get(code) ?? BY_STATUS.get(status) ?? (status >= 500 ? ServerError : HesoError);
  return new cls(message, {
    code: code || (cls === HesoError ? `HTTP_${status}` : cls.code), status, details, retryAfter, requestId,
  });
}
