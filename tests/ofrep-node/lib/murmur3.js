// MurmurHash3, x86 32-bit variant (Austin Appleby), written from the public
// reference algorithm so that the rollout check does not reuse the server's
// code. Returns the hash as an unsigned 32-bit integer.

export function murmur3x86_32(bytes, seed = 0) {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const whole = bytes.length - (bytes.length % 4);

  for (let i = 0; i < whole; i += 4) {
    let k = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) >>> 0;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }

  let k = 0;
  switch (bytes.length & 3) {
    case 3:
      k ^= bytes[whole + 2] << 16;
    // falls through
    case 2:
      k ^= bytes[whole + 1] << 8;
    // falls through
    case 1:
      k ^= bytes[whole];
      k = Math.imul(k, c1);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, c2);
      h ^= k;
  }

  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The Daylight bucket of `value` under `salt` (docs/flag-format.md). */
export function bucket(salt, value) {
  return murmur3x86_32(new TextEncoder().encode(`${salt}.${value}`), 0) % 100000;
}

/** The variation index a rollout serves for a bucket. */
export function rolloutVariation(variations, b) {
  let sum = 0;
  for (const { variation, weight } of variations) {
    sum += weight;
    if (sum > b) return variation;
  }
  throw new Error(`weights do not cover bucket ${b}`);
}
