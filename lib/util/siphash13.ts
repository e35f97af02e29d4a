/**
 * SipHash-1-3 with 64-bit output, the algorithm behind Rust's `std::collections::hash_map::DefaultHasher`
 * (`DefaultHasher::new()` keys it with zeros). Needed to give a node the same rollout wariness
 * fedora-coreos-cincinnati gives it from its node UUID. Written here because no npm package
 * offers the 1-3 variant (the siphash packages implement SipHash-2-4); BigInt keeps it short,
 * and it hashes one short string per graph request.
 */

const MASK_64 = (1n << 64n) - 1n;

/** Rotates a 64-bit value left by `bits`. */
function rotateLeft(value: bigint, bits: bigint): bigint {
  return ((value << bits) | (value >> (64n - bits))) & MASK_64;
}

/** The four state words of SipHash. */
type SipState = [bigint, bigint, bigint, bigint];

/** One SipRound over the state, in place. */
function sipRound(state: SipState): void {
  let [v0, v1, v2, v3] = state;
  v0 = (v0 + v1) & MASK_64;
  v1 = rotateLeft(v1, 13n) ^ v0;
  v0 = rotateLeft(v0, 32n);
  v2 = (v2 + v3) & MASK_64;
  v3 = rotateLeft(v3, 16n) ^ v2;
  v0 = (v0 + v3) & MASK_64;
  v3 = rotateLeft(v3, 21n) ^ v0;
  v2 = (v2 + v1) & MASK_64;
  v1 = rotateLeft(v1, 17n) ^ v2;
  v2 = rotateLeft(v2, 32n);
  state[0] = v0;
  state[1] = v1;
  state[2] = v2;
  state[3] = v3;
}

/** Absorbs one 64-bit message word with one compression round (the "1" of 1-3). */
function absorb(state: SipState, word: bigint): void {
  state[3] ^= word;
  sipRound(state);
  state[0] ^= word;
}

/** SipHash-1-3 of `bytes` under the 128-bit key (k0, k1), as an unsigned 64-bit BigInt. */
export function sipHash13(bytes: Uint8Array, k0 = 0n, k1 = 0n): bigint {
  const state: SipState = [
    k0 ^ 0x736f6d6570736575n,
    k1 ^ 0x646f72616e646f6dn,
    k0 ^ 0x6c7967656e657261n,
    k1 ^ 0x7465646279746573n,
  ];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const wholeWords = bytes.length - (bytes.length % 8);
  for (let offset = 0; offset < wholeWords; offset += 8) absorb(state, view.getBigUint64(offset, true));
  // The last word: the remaining bytes, little-endian, with the length's low byte on top.
  let last = BigInt(bytes.length & 0xff) << 56n;
  for (let offset = wholeWords; offset < bytes.length; offset++) {
    last |= BigInt(bytes[offset]!) << BigInt(8 * (offset - wholeWords));
  }
  absorb(state, last);
  state[2] ^= 0xffn;
  for (let round = 0; round < 3; round++) sipRound(state);
  return state[0] ^ state[1] ^ state[2] ^ state[3];
}

/**
 * What `s.hash(&mut DefaultHasher::new()); hasher.finish()` gives for a Rust `String`/`str`:
 * its UTF-8 bytes followed by a 0xFF terminator byte, through SipHash-1-3 with zero keys.
 */
export function rustDefaultHashOfString(text: string): bigint {
  const utf8 = new TextEncoder().encode(text);
  const bytes = new Uint8Array(utf8.length + 1);
  bytes.set(utf8);
  bytes[utf8.length] = 0xff;
  return sipHash13(bytes);
}
