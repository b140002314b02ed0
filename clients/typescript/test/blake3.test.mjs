// BLAKE3 against the official test vectors (vectors/blake3.json, copied from the BLAKE3 repository).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { blake3, blake3Hex } from "../dist/index.js";

const vectors = JSON.parse(readFileSync(new URL("./vectors/blake3.json", import.meta.url), "utf8"));

test("every official hash-mode vector, extended output and default length", () => {
  assert.equal(vectors.cases.length, 22);
  for (const { input_len: length, hash } of vectors.cases) {
    const input = new Uint8Array(length).map((_, i) => i % 251);
    assert.equal(Buffer.from(blake3(input, hash.length / 2)).toString("hex"), hash, `input_len ${length}`);
    assert.equal(Buffer.from(blake3(input)).toString("hex"), hash.slice(0, 64), `input_len ${length}, 32 bytes`);
  }
});

test("blake3Hex hashes the concatenation of its parts", () => {
  const whole = new Uint8Array(2049).map((_, i) => i % 251);
  assert.equal(blake3Hex(whole.subarray(0, 7), whole.subarray(7, 1500), whole.subarray(1500)), blake3Hex(whole));
  assert.throws(() => blake3(whole, -1), RangeError);
});
