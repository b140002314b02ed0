/**
 * BLAKE3 (hash mode, any output length), in plain TypeScript.
 *
 * Why it is here: receipts' `action_hash` and key ids are BLAKE3 (docs/receipts.md), Node 20's
 * `node:crypto` has no BLAKE3 (only BLAKE2), and this package takes no runtime dependencies. A
 * port of the specification's reference implementation (portable, one chunk at a time); fast
 * enough for receipts (actions of a few KiB), not meant for bulk hashing. Checked against the
 * official test vectors (test/vectors/blake3.json) and the published receipt vectors.
 */

const OUT_LEN = 32;
const BLOCK_LEN = 64;
const CHUNK_LEN = 1024;

const CHUNK_START = 1 << 0;
const CHUNK_END = 1 << 1;
const PARENT = 1 << 2;
const ROOT = 1 << 3;

const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

const MSG_PERMUTATION = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

function rotr(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}

function g(state: Uint32Array, a: number, b: number, c: number, d: number, mx: number, my: number): void {
  state[a] = (state[a]! + state[b]! + mx) | 0;
  state[d] = rotr(state[d]! ^ state[a]!, 16);
  state[c] = (state[c]! + state[d]!) | 0;
  state[b] = rotr(state[b]! ^ state[c]!, 12);
  state[a] = (state[a]! + state[b]! + my) | 0;
  state[d] = rotr(state[d]! ^ state[a]!, 8);
  state[c] = (state[c]! + state[d]!) | 0;
  state[b] = rotr(state[b]! ^ state[c]!, 7);
}

function round(state: Uint32Array, m: Uint32Array): void {
  g(state, 0, 4, 8, 12, m[0]!, m[1]!);
  g(state, 1, 5, 9, 13, m[2]!, m[3]!);
  g(state, 2, 6, 10, 14, m[4]!, m[5]!);
  g(state, 3, 7, 11, 15, m[6]!, m[7]!);
  g(state, 0, 5, 10, 15, m[8]!, m[9]!);
  g(state, 1, 6, 11, 12, m[10]!, m[11]!);
  g(state, 2, 7, 8, 13, m[12]!, m[13]!);
  g(state, 3, 4, 9, 14, m[14]!, m[15]!);
}

function permute(m: Uint32Array): Uint32Array {
  const permuted = new Uint32Array(16);
  for (let i = 0; i < 16; i++) permuted[i] = m[MSG_PERMUTATION[i]!]!;
  return permuted;
}

/** The compression function: 16 words of output (the first 8 are the chaining value). */
function compress(cv: Uint32Array, block: Uint32Array, counter: number, blockLen: number, flags: number): Uint32Array {
  const state = new Uint32Array(16);
  state.set(cv.subarray(0, 8), 0);
  state.set(IV.subarray(0, 4), 8);
  state[12] = counter >>> 0; // the 64-bit counter's low word
  state[13] = Math.floor(counter / 0x100000000) >>> 0; // and its high word
  state[14] = blockLen;
  state[15] = flags;
  let m = block;
  for (let r = 0; r < 7; r++) {
    round(state, m);
    if (r < 6) m = permute(m);
  }
  for (let i = 0; i < 8; i++) {
    state[i] = state[i]! ^ state[i + 8]!;
    state[i + 8] = state[i + 8]! ^ cv[i]!;
  }
  return state;
}

function words(bytes: Uint8Array): Uint32Array {
  // A block, zero-padded to 64 bytes, as 16 little-endian words.
  const padded = new Uint8Array(BLOCK_LEN);
  padded.set(bytes);
  const out = new Uint32Array(16);
  for (let i = 0; i < 16; i++) {
    out[i] = (padded[4 * i]! | (padded[4 * i + 1]! << 8) | (padded[4 * i + 2]! << 16) | (padded[4 * i + 3]! << 24)) >>> 0;
  }
  return out;
}

/** What the last compression of a node needs, so the root can produce any output length. */
interface Output {
  cv: Uint32Array;
  block: Uint32Array;
  counter: number;
  blockLen: number;
  flags: number;
}

function chainingValue(output: Output): Uint32Array {
  return compress(output.cv, output.block, output.counter, output.blockLen, output.flags).slice(0, 8);
}

function rootBytes(output: Output, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let position = 0;
  for (let blockCounter = 0; position < length; blockCounter++) {
    const state = compress(output.cv, output.block, blockCounter, output.blockLen, output.flags | ROOT);
    for (let i = 0; i < 16 && position < length; i++) {
      const word = state[i]!;
      for (let byte = 0; byte < 4 && position < length; byte++) out[position++] = (word >>> (8 * byte)) & 0xff;
    }
  }
  return out;
}

/** The output of one chunk (up to 1,024 bytes) at position `counter`. */
function chunkOutput(chunk: Uint8Array, counter: number): Output {
  let cv: Uint32Array = IV.slice();
  const blocks = Math.max(1, Math.ceil(chunk.length / BLOCK_LEN));
  for (let b = 0; b < blocks - 1; b++) {
    const flags = b === 0 ? CHUNK_START : 0;
    cv = compress(cv, words(chunk.subarray(b * BLOCK_LEN, (b + 1) * BLOCK_LEN)), counter, BLOCK_LEN, flags).slice(0, 8);
  }
  const last = chunk.subarray((blocks - 1) * BLOCK_LEN);
  return {
    cv, block: words(last), counter, blockLen: last.length,
    flags: (blocks === 1 ? CHUNK_START : 0) | CHUNK_END,
  };
}

function parentOutput(left: Uint32Array, right: Uint32Array): Output {
  const block = new Uint32Array(16);
  block.set(left, 0);
  block.set(right, 8);
  return { cv: IV.slice(), block, counter: 0, blockLen: BLOCK_LEN, flags: PARENT };
}

/** BLAKE3 of `input` (hash mode); `length` bytes of output, 32 by default. */
export function blake3(input: Uint8Array, length: number = OUT_LEN): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length must be a non-negative integer, got ${length}`);
  const chunks = Math.max(1, Math.ceil(input.length / CHUNK_LEN));
  // The chaining-value stack of the incremental tree: a completed subtree of 2^k chunks merges
  // with its left neighbour as soon as one of the same size exists.
  const stack: Uint32Array[] = [];
  for (let c = 0; c < chunks - 1; c++) {
    let cv = chainingValue(chunkOutput(input.subarray(c * CHUNK_LEN, (c + 1) * CHUNK_LEN), c));
    let total = c + 1;
    while ((total & 1) === 0) {
      cv = chainingValue(parentOutput(stack.pop()!, cv));
      total >>>= 1;
    }
    stack.push(cv);
  }
  let output = chunkOutput(input.subarray((chunks - 1) * CHUNK_LEN), chunks - 1);
  while (stack.length > 0) {
    output = parentOutput(stack.pop()!, chainingValue(output));
  }
  return rootBytes(output, length);
}

/** Lower-case hex BLAKE3 of the concatenation of `parts` (as `heso.canonical.blake3_hex`). */
export function blake3Hex(...parts: Uint8Array[]): string {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return Buffer.from(blake3(joined)).toString("hex");
}
