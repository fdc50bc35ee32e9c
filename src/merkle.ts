import { createHash, hash } from 'node:crypto';

/**
 * An RFC 6962 Merkle tree over the log's leaves: leaf hash SHA-256(0x00 ‖ data), node hash
 * SHA-256(0x01 ‖ left ‖ right), so a leaf can never pass for a node. Pure: hashing, the compact
 * range a sequencer keeps, proofs built from a reader of perfect-subtree nodes, and their
 * verification (ported from transparency-dev/merkle proof/verify.go).
 *
 * Sizes and indices are plain numbers; every function accepts safe integers only (2^53 leaves).
 */

export const HASH_SIZE = 32;
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

// One-shot hashing of one input: the sequencer hashes a few times per event, so it counts.
export function hashLeaf(data: Uint8Array | string): Buffer {
  if (typeof data === 'string') return hash('sha256', `\u0000${data}`, 'buffer');
  return hash('sha256', Buffer.concat([LEAF_PREFIX, data]), 'buffer');
}

export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  return hash('sha256', Buffer.concat([NODE_PREFIX, left, right]), 'buffer');
}

/** The root of the empty tree: SHA-256 of nothing. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** What the log commits to for an event: its place in its project's chain and its chain hash. */
export interface EventLeaf {
  project_id: string;
  seq: number;
  hash: string;
}

/**
 * Leaf data of an event: the canonical JSON (RFC 8785) of {project_id, seq, hash}, written out
 * directly: keys in code-point order, strings as JSON.stringify writes them (which RFC 8785
 * adopts), and seq a safe integer. A test holds it equal to canonicalJson on every input.
 */
export function eventLeafData(e: EventLeaf): string {
  if (!Number.isSafeInteger(e.seq)) throw new Error(`seq ${e.seq} is not a safe integer`);
  return `{"hash":${JSON.stringify(String(e.hash))},"project_id":${JSON.stringify(String(e.project_id))},"seq":${e.seq}}`;
}

export function eventLeafHash(e: EventLeaf): Buffer {
  return hashLeaf(eventLeafData(e));
}

// ------------------------------------------------------------------------------------ bit helpers

function assertSize(name: string, x: number): void {
  if (!Number.isSafeInteger(x) || x < 0) throw new ProofError(`${name} must be a non-negative integer`);
}
/** x >> k for safe integers beyond 32 bits. */
const shr = (x: number, k: number) => Math.floor(x / 2 ** k);
const bit = (x: number, i: number) => shr(x, i) % 2;
const bitLen = (x: number) => (x === 0 ? 0 : x.toString(2).length);
/** Set bits of a safe integer: its low and high 32 bits counted apart (nodePosition runs per node). */
const popcount32 = (v: number) => {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
};
const onesCount = (x: number) => popcount32(x >>> 0) + popcount32(Math.floor(x / 2 ** 32) >>> 0);
const xor = (a: number, b: number) => Number(BigInt(a) ^ BigInt(b));
function trailingZeros(x: number): number {
  let n = 0;
  while (x > 0 && x % 2 === 0) {
    x /= 2;
    n++;
  }
  return n;
}
const isPowerOfTwo = (n: number) => n > 0 && bitLen(n) - 1 === trailingZeros(n);
/** The largest power of two smaller than n (n ≥ 2). */
const splitPoint = (n: number) => 2 ** (bitLen(n - 1) - 1);

// ---------------------------------------------------------------------------------- compact range

/** A node of the tree: level 0 holds leaves; node (level, index) covers leaves [index·2^level, (index+1)·2^level). */
export interface TreeNode {
  level: number;
  index: number;
  hash: Buffer;
}

/**
 * The compact range [0, size): the roots of the perfect subtrees that make up the first `size`
 * leaves, largest (leftmost) first — one per set bit of `size`. Enough to append and to compute
 * the root, with no other node.
 */
export interface CompactRange {
  size: number;
  hashes: Buffer[];
}

export const emptyRange = (): CompactRange => ({ size: 0, hashes: [] });

/** Append a leaf hash; returns the perfect subtrees it completed, the leaf itself first. Mutates `range`. */
export function appendLeaf(range: CompactRange, leaf: Buffer): TreeNode[] {
  const index = range.size;
  const done: TreeNode[] = [{ level: 0, index, hash: leaf }];
  let node = leaf;
  let level = 0;
  while (bit(index, level) === 1) {
    const left = range.hashes.pop();
    if (!left) throw new Error(`compact range of size ${index} holds too few hashes`);
    node = hashChildren(left, node);
    level++;
    done.push({ level, index: shr(index, level), hash: node });
  }
  range.hashes.push(node);
  range.size = index + 1;
  return done;
}

/** The Merkle tree hash of the range: its subtree roots folded from the right. */
export function rangeRoot(range: CompactRange): Buffer {
  if (range.hashes.length !== onesCount(range.size))
    throw new Error(`compact range of size ${range.size} holds ${range.hashes.length} hashes`);
  const hs = range.hashes;
  if (!hs.length) return EMPTY_ROOT;
  let root = hs[hs.length - 1]!;
  for (let i = hs.length - 2; i >= 0; i--) root = hashChildren(hs[i]!, root);
  return root;
}

/** The perfect subtrees of a compact range of `size`, as (level, index), largest first. */
export function rangeNodes(size: number): { level: number; index: number }[] {
  const out: { level: number; index: number }[] = [];
  let begin = 0;
  for (let level = bitLen(size) - 1; level >= 0; level--) {
    if (bit(size, level) === 1) {
      out.push({ level, index: shr(begin, level) });
      begin += 2 ** level;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------ proof generation

/** Reads a stored perfect-subtree node; must throw when the node is not stored. */
export type NodeReader = (level: number, index: number) => Promise<Buffer> | Buffer;

export interface NodeId {
  level: number;
  index: number;
}

/**
 * Run a proof builder with every node it needs fetched in one go: a first pass records which
 * nodes it reads (which nodes a proof needs never depends on their hashes), then `fetch` gets
 * them all and the builder runs again over them.
 */
export async function withNodes<T>(
  fetch: (ids: readonly NodeId[]) => Promise<Map<string, Buffer>>,
  build: (read: NodeReader) => Promise<T>,
): Promise<T> {
  const wanted = new Map<string, NodeId>();
  const blank = Buffer.alloc(HASH_SIZE);
  await build((level, index) => {
    wanted.set(nodeKey(level, index), { level, index });
    return blank;
  });
  const got = wanted.size ? await fetch([...wanted.values()]) : new Map<string, Buffer>();
  return build((level, index) => {
    const h = got.get(nodeKey(level, index));
    if (!h) throw new Error(`node ${level}/${index} is not stored`);
    return h;
  });
}

export const nodeKey = (level: number, index: number) => `${level}/${index}`;

/**
 * A node's place in the order the compact range completes nodes (the leaf, then each parent it
 * completes): 2L − popcount(L) + level, where L is the last leaf under the node. Stored by this
 * key, every append adds rows at the end of one B-tree.
 */
export function nodePosition(level: number, index: number): number {
  const last = (index + 1) * 2 ** level - 1;
  return 2 * last - onesCount(last) + level;
}

/** The Merkle tree hash of leaves [begin, end), from stored perfect subtrees (RFC 6962 MTH). */
export async function subtreeHash(read: NodeReader, begin: number, end: number): Promise<Buffer> {
  assertSize('begin', begin);
  assertSize('end', end);
  const n = end - begin;
  if (n <= 0) {
    if (n === 0) return EMPTY_ROOT;
    throw new ProofError(`empty or inverted range [${begin}, ${end})`);
  }
  if (isPowerOfTwo(n) && begin % n === 0) return read(bitLen(n) - 1, begin / n);
  const k = splitPoint(n);
  return hashChildren(await subtreeHash(read, begin, begin + k), await subtreeHash(read, begin + k, end));
}

/** RFC 6962 audit path of leaf `index` in the tree of `size` leaves, lowest level first. */
export async function inclusionProof(read: NodeReader, index: number, size: number): Promise<Buffer[]> {
  assertSize('index', index);
  assertSize('size', size);
  if (index >= size) throw new ProofError(`index ${index} is beyond size ${size}`);
  const path = async (begin: number, end: number): Promise<Buffer[]> => {
    const n = end - begin;
    if (n === 1) return [];
    const k = splitPoint(n);
    if (index < begin + k)
      return [...(await path(begin, begin + k)), await subtreeHash(read, begin + k, end)];
    return [...(await path(begin + k, end)), await subtreeHash(read, begin, begin + k)];
  };
  return path(0, size);
}

/** RFC 6962 consistency proof between the trees of size1 and size2 leaves (0 < size1 ≤ size2). */
export async function consistencyProof(read: NodeReader, size1: number, size2: number): Promise<Buffer[]> {
  assertSize('size1', size1);
  assertSize('size2', size2);
  if (size1 === 0) throw new ProofError('a consistency proof from the empty tree is meaningless');
  if (size1 > size2) throw new ProofError(`size1 ${size1} is beyond size2 ${size2}`);
  if (size1 === size2) return [];
  const sub = async (begin: number, end: number, whole: boolean): Promise<Buffer[]> => {
    if (size1 === end) return whole ? [] : [await subtreeHash(read, begin, end)];
    const k = splitPoint(end - begin);
    if (size1 <= begin + k)
      return [...(await sub(begin, begin + k, whole)), await subtreeHash(read, begin + k, end)];
    return [...(await sub(begin + k, end, false)), await subtreeHash(read, begin, begin + k)];
  };
  return sub(0, size2, true);
}

// ---------------------------------------------------------------------------- proof verification

/** A proof that does not verify, or arguments that cannot describe one. */
export class ProofError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProofError';
  }
}

export type Verdict = { ok: true } | { ok: false; reason: string };

function verdict(fn: () => void): Verdict {
  try {
    fn();
    return { ok: true };
  } catch (err) {
    if (err instanceof ProofError) return { ok: false, reason: err.message };
    throw err;
  }
}

function assertHash(name: string, h: Uint8Array): void {
  if (h.length !== HASH_SIZE) throw new ProofError(`${name} has ${h.length} bytes, not ${HASH_SIZE}`);
}

function matchRoot(calculated: Buffer, expected: Uint8Array): void {
  if (!calculated.equals(expected))
    throw new ProofError(
      `calculated root ${calculated.toString('base64')} does not match the expected root ${Buffer.from(expected).toString('base64')}`,
    );
}

/** The root a tree of `size` leaves must have for leaf `index` with this hash and audit path. */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer {
  assertSize('index', index);
  assertSize('size', size);
  if (index >= size) throw new ProofError(`index is beyond size: ${index} >= ${size}`);
  assertHash('the leaf hash', leafHash);
  for (const [i, p] of proof.entries()) assertHash(`proof[${i}]`, p);
  const { inner, border } = decompInclProof(index, size);
  if (proof.length !== inner + border)
    throw new ProofError(`wrong proof size ${proof.length}, want ${inner + border}`);
  const res = chainInner(Buffer.from(leafHash), proof.slice(0, inner), index);
  return chainBorderRight(res, proof.slice(inner));
}

export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): Verdict {
  return verdict(() => matchRoot(rootFromInclusionProof(index, size, leafHash, proof), root));
}

/** The root of the tree of size2 that a consistency proof from (size1, root1) commits to. */
export function rootFromConsistencyProof(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
): Buffer {
  assertSize('size1', size1);
  assertSize('size2', size2);
  if (size2 < size1) throw new ProofError(`size2 (${size2}) < size1 (${size1})`);
  if (size1 === 0) throw new ProofError('consistency proof from empty tree is meaningless');
  if (size1 === size2) {
    if (proof.length > 0) throw new ProofError('size1=size2, but proof is not empty');
    return Buffer.from(root1);
  }
  if (proof.length === 0) throw new ProofError('empty proof');
  assertHash('root1', root1);
  for (const [i, p] of proof.entries()) assertHash(`proof[${i}]`, p);

  const d = decompInclProof(size1 - 1, size2);
  const shift = trailingZeros(size1);
  const inner = d.inner - shift; // shift < inner when size1 < size2
  // The proof starts with the root of the subtree of size 2^shift, unless size1 is exactly that.
  let seed = Buffer.from(proof[0]!);
  let start = 1;
  if (size1 === 2 ** shift) {
    seed = Buffer.from(root1);
    start = 0;
  }
  if (proof.length !== start + inner + d.border)
    throw new ProofError(`wrong proof size ${proof.length}, want ${start + inner + d.border}`);
  const rest = proof.slice(start);
  // Now rest is a suffix of the inclusion proof of leaf size1-1 in the tree of size2.
  const mask = shr(size1 - 1, shift);
  let hash1 = chainInnerRight(seed, rest.slice(0, inner), mask);
  hash1 = chainBorderRight(hash1, rest.slice(inner));
  matchRoot(hash1, root1);
  const hash2 = chainInner(seed, rest.slice(0, inner), mask);
  return chainBorderRight(hash2, rest.slice(inner));
}

export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): Verdict {
  return verdict(() => matchRoot(rootFromConsistencyProof(size1, size2, proof, root1), root2));
}

/**
 * Split the inclusion proof of leaf `index` in a tree of `size` where the paths to `index` and to
 * `size-1` diverge: `inner` nodes below (left or right siblings), `border` nodes above (left only).
 */
function decompInclProof(index: number, size: number): { inner: number; border: number } {
  const inner = bitLen(xor(index, size - 1));
  return { inner, border: onesCount(shr(index, inner)) };
}

function chainInner(seed: Buffer, proof: readonly Uint8Array[], index: number): Buffer {
  proof.forEach((h, i) => {
    seed = bit(index, i) === 0 ? hashChildren(seed, h) : hashChildren(h, seed);
  });
  return seed;
}

/** Like chainInner, but only left siblings count: the hash of the earlier version of the subtree. */
function chainInnerRight(seed: Buffer, proof: readonly Uint8Array[], index: number): Buffer {
  proof.forEach((h, i) => {
    if (bit(index, i) === 1) seed = hashChildren(h, seed);
  });
  return seed;
}

function chainBorderRight(seed: Buffer, proof: readonly Uint8Array[]): Buffer {
  for (const h of proof) seed = hashChildren(h, seed);
  return seed;
}
