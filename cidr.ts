/** IPv4 CIDR arithmetic for validating address plans before Azure rejects them at deploy time. */

export interface Cidr {
  text: string;
  network: number;
  prefixLength: number;
  /** First and last address as unsigned 32-bit numbers. */
  first: number;
  last: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text.trim());
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefixLength = Number(match[5]);
  if (octets.some((o) => o > 255) || prefixLength > 32) return undefined;
  const address = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const size = 2 ** (32 - prefixLength);
  const network = Math.floor(address / size) * size;
  if (network !== address) return undefined; // host bits set: Azure rejects it, so do we.
  return { text, network, prefixLength, first: network, last: network + size - 1 };
}

export function isIpv4Address(text: string): boolean {
  return parseCidr(`${text}/32`) !== undefined;
}

export function contains(outer: Cidr, inner: Cidr): boolean {
  return inner.first >= outer.first && inner.last <= outer.last;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/** The address `offset` places into a block; Azure reserves offsets 0-3 and the last address of a subnet. */
export function hostAddress(block: Cidr, offset: number): string {
  if (offset < 4 || block.first + offset >= block.last) {
    throw new Error(`offset ${offset} is not a usable address in ${block.text}`);
  }
  const n = block.first + offset;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** The first block of `prefixLength` inside `space` that overlaps none of `taken`, or undefined. */
export function firstFreeBlock(space: Cidr, taken: readonly Cidr[], prefixLength: number): Cidr | undefined {
  if (prefixLength < space.prefixLength || prefixLength > 32) return undefined;
  const size = 2 ** (32 - prefixLength);
  for (let first = space.first; first + size - 1 <= space.last; first += size) {
    const candidate = { network: first, prefixLength, first, last: first + size - 1 };
    if (!taken.some((t) => overlaps(t, candidate as Cidr))) {
      const text = `${[first >>> 24, (first >>> 16) & 255, (first >>> 8) & 255, first & 255].join(".")}/${prefixLength}`;
      return { ...candidate, text };
    }
  }
  return undefined;
}
