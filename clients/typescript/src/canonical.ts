/**
 * RFC 8785 canonical JSON (JCS): the bytes every receipt hash and signature covers, equal to
 * what the server computes (`heso.receipts.format.canonical`).
 *
 * RFC 8785 is defined on ECMAScript's own JSON serialisation, so numbers and strings are
 * JSON.stringify's; what this adds is the key order (UTF-16 code units, which is what
 * Array.prototype.sort compares), and refusing what has no canonical form: NaN and
 * ±Infinity, lone surrogates, bigint, functions, symbols, `undefined` in an array, and
 * objects that are not plain (a Date, a Map: pass what you mean, e.g. an ISO string).
 * `undefined` object properties are left out, as JSON.stringify (and so the request body) does.
 */

/** A value with no canonical JSON form; the server would refuse it as `malformed`. */
export class MalformedError extends TypeError {
  override name = "MalformedError";
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function string(value: string, where: string): string {
  if (LONE_SURROGATE.test(value)) throw new MalformedError(`lone surrogate in a string at ${where}`);
  return JSON.stringify(value);
}

function serialize(value: unknown, where: string, seen: Set<object>): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new MalformedError(`number ${value} at ${where} is not JSON`);
      return JSON.stringify(value); // ECMAScript's shortest round-trip form; -0 is "0"
    case "string":
      return string(value, where);
    case "object":
      break;
    default:
      throw new MalformedError(`a ${typeof value} at ${where} has no JSON form`);
  }
  const object = value as object;
  if (seen.has(object)) throw new MalformedError(`a cycle at ${where}`);
  seen.add(object);
  try {
    if (Array.isArray(object)) {
      return "[" + object.map((item, index) => {
        if (item === undefined) throw new MalformedError(`undefined at ${where}[${index}]`);
        return serialize(item, `${where}[${index}]`, seen);
      }).join(",") + "]";
    }
    const prototype = Object.getPrototypeOf(object);
    if (prototype !== Object.prototype && prototype !== null) {
      throw new MalformedError(`a ${object.constructor?.name ?? "non-plain object"} at ${where}: pass plain JSON data`);
    }
    const record = object as Record<string, unknown>;
    const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
    return "{" + keys.map((key) => `${string(key, where)}:${serialize(record[key], `${where}.${key}`, seen)}`)
      .join(",") + "}";
  } finally {
    seen.delete(object);
  }
}

/** The RFC 8785 text of `value` (MalformedError if it has none). */
export function canonicalString(value: unknown): string {
  return serialize(value, "$", new Set());
}

/** The RFC 8785 bytes (UTF-8) of `value`. */
export function canonicalJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalString(value));
}
