/**
 * The HTTP layer (Node 20's global `fetch`), as the Python SDK's `Transport`:
 *
 * - `Authorization: Bearer <key>` unless a request passes its own (`null` drops a header);
 * - every error answer becomes the HesoError subclass of its envelope's code;
 * - 429 and 503 are retried for any method (the server refused before acting), waiting
 *   Retry-After seconds (capped at `maxRetryAfter`) or an exponential backoff with jitter
 *   (0.5 s, 1 s, 2 s … capped at 8 s) without it; network errors and timeouts are retried only
 *   for idempotent requests: GET, HEAD, OPTIONS, PUT, DELETE, or any with an Idempotency-Key.
 */

import { ServerError, TransportError, fromEnvelope } from "./errors.js";
import type { JsonObject } from "./models.js";

const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const RETRY_STATUSES = new Set([429, 503]);
const BACKOFF_BASE = 0.5;
const BACKOFF_CAP = 8;
const VERSION = "0.1.0";

export interface TransportOptions {
  /** Seconds for each request (long-polls get their wait on top). Default 10. */
  timeout?: number;
  /** Retries after the first attempt. Default 3. */
  maxRetries?: number;
  /** Longest Retry-After honoured, in seconds. Default 30. */
  maxRetryAfter?: number;
  /** How the client waits between attempts (milliseconds); replaceable in tests. */
  sleep?: (milliseconds: number) => Promise<void>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  json?: unknown;
  params?: Record<string, string | number | boolean | null | undefined>;
  headers?: Record<string, string | null | undefined>;
  /** Seconds, instead of the transport's. */
  timeout?: number;
}

/** Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  if (!/[A-Za-z]/.test(trimmed)) return null;
  const when = Date.parse(trimmed);
  return Number.isNaN(when) ? null : Math.max(0, (when - now) / 1000);
}

export class Transport {
  readonly endpoint: string;
  apiKey: string | null;
  readonly timeout: number;
  readonly maxRetries: number;
  readonly maxRetryAfter: number;
  sleep: (milliseconds: number) => Promise<void>;
  /** Headers of the last answer. */
  lastHeaders: Headers = new Headers();
  private readonly fetchImpl: typeof fetch;

  constructor(endpoint: string, apiKey: string | null = null, options: TransportOptions = {}) {
    if (!/^https?:\/\//.test(endpoint)) throw new TypeError(`endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
    const timeout = options.timeout ?? 10;
    const maxRetries = options.maxRetries ?? 3;
    if (!(timeout > 0)) throw new RangeError(`timeout must be positive, got ${timeout}`);
    if (!(Number.isInteger(maxRetries) && maxRetries >= 0)) throw new RangeError(`maxRetries must be >= 0, got ${maxRetries}`);
    this.endpoint = endpoint.replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.timeout = timeout;
    this.maxRetries = maxRetries;
    this.maxRetryAfter = options.maxRetryAfter ?? 30;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.fetchImpl = options.fetch ?? fetch;
  }

  private backoff(attempt: number): number {
    return Math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt) * (0.5 + Math.random() / 2);
  }

  /** Send one request (with the retries above); the decoded JSON object (`{}` for an empty body). */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<JsonObject> {
    method = method.toUpperCase();
    const url = new URL(this.endpoint + (path.startsWith("/") ? path : `/${path}`));
    for (const [name, value] of Object.entries(options.params ?? {})) {
      if (value !== null && value !== undefined) url.searchParams.set(name, String(value));
    }
    const merged: Record<string, string | null | undefined> = {
      "User-Agent": `heso-typescript/${VERSION}`, Accept: "application/json",
      ...(this.apiKey ? { Authorization: `Bearer ${this.apiKey}` } : {}),
    };
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      for (const existing of Object.keys(merged)) if (existing.toLowerCase() === name.toLowerCase()) delete merged[existing];
      merged[name] = value;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(merged)) if (value !== null && value !== undefined) headers[name] = value;
    let body: string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["Content-Type"] = "application/json";
    }
    const idempotent = IDEMPOTENT_METHODS.has(method)
      || Object.keys(headers).some((name) => name.toLowerCase() === "idempotency-key");
    const limit = (options.timeout ?? this.timeout) * 1000;
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      let text: string;
      try {
        response = await this.fetchImpl(url, { method, headers, body, signal: AbortSignal.timeout(limit) });
        text = await response.text();
      } catch (error) {
        if (idempotent && attempt < this.maxRetries) {
          await this.sleep(this.backoff(attempt) * 1000);
          continue;
        }
        const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
        throw new TransportError(`${method} ${url} failed: ${reason}`, { cause: error });
      }
      const retryAfter = parseRetryAfter(response.headers.get("Retry-After"));
      if (RETRY_STATUSES.has(response.status) && attempt < this.maxRetries) {
        await this.sleep((retryAfter === null ? this.backoff(attempt) : Math.min(retryAfter, this.maxRetryAfter)) * 1000);
        continue;
      }
      this.lastHeaders = response.headers;
      return decode(response, text, url, retryAfter);
    }
  }
}

function decode(response: Response, text: string, url: URL, retryAfter: number | null): JsonObject {
  let body: unknown = {};
  let parsed = true;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      parsed = false;
    }
  }
  if (response.status >= 400) {
    throw fromEnvelope(response.status, parsed ? body : null, retryAfter, response.headers.get("X-Request-Id"));
  }
  if (!parsed) {
    throw new ServerError(`Expected JSON from ${url}, got ${JSON.stringify(text.slice(0, 200))}`, { status: response.status });
  }
  return typeof body === "object" && body !== null && !Array.isArray(body) ? (body as JsonObject) : { data: body };
}

