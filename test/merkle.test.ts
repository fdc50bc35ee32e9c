import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalJson } from '../src/canonical.ts';
import {
  appendLeaf,
  type CompactRange,
  consistencyProof,
  EMPTY_ROOT,
  emptyRange,
  eventLeafData,
  hashChildren,
  hashLeaf,
  inclusionProof,
  type NodeReader,
  nodePosition,
  rangeNodes,
  rangeRoot,
  subtreeHash,
  verifyConsistency,
  verifyInclusion,
  withNodes,
} from '../src/merkle.ts';
import { ROOT } from './helpers.ts';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'merkle');
const load = (f: string) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8'));
const b64 = (s: string) => Buffer.from(s, 'base64');
const hex = (s: string) => Buffer.from(s, 'hex');

interface InclusionProbe {
  file: string;
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}
interface ConsistencyProbe {
  file: string;
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

/** The RFC 6962 definition, by recursion, as the reference. */
function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return hashChildren(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** A tree built by appending: its leaf hashes, every perfect subtree it stored, and a reader over them. */
function build(leaves: Buffer[]): { range: CompactRange; nodes: Map<string, Buffer>; read: NodeReader } {
  const range = emptyRange();
  const nodes = new Map<string, Buffer>();
  for (const l of leaves) for (const n of appendLeaf(range, l)) nodes.set(`${n.level}/${n.index}`, n.hash);
  const read: NodeReader = (level, index) => {
    const h = nodes.get(`${level}/${index}`);
    if (!h) throw new Error(`node ${level}/${index} is not stored`);
    return h;
  };
  return { range, nodes, read };
}

const LEAVES = Array.from({ length: 2000 }, (_, i) => hashLeaf(`leaf ${i}`));
const BIG = build(LEAVES);

describe('RFC 6962 hashing and the reference tree (transparency-dev/merkle)', () => {
  const ref = load('reference.json');

  it('hashes leaves and nodes with the 0x00/0x01 prefixes', () => {
    assert.equal(EMPTY_ROOT.toString('hex'), ref.hasher.emptyRoot);
    assert.equal(hashLeaf(Buffer.alloc(0)).toString('hex'), ref.hasher.emptyLeaf);
    assert.equal(hashLeaf('L123456').toString('hex'), ref.hasher.leafL123456);
    assert.equal(
      hashChildren(Buffer.from('N123'), Buffer.from('N456')).toString('hex'),
      ref.hasher.nodeN123N456,
    );
    // A leaf is never mistaken for a node over the same bytes.
    const l = hashLeaf('a');
    const r = hashLeaf('b');
    assert.notDeepEqual(hashChildren(l, r), hashLeaf(Buffer.concat([l, r])));
  });

  it('node positions number the nodes in the order appends complete them', () => {
    const range = emptyRange();
    let n = 0;
    for (const leaf of LEAVES.slice(0, 1000))
      for (const x of appendLeaf(range, leaf)) assert.equal(nodePosition(x.level, x.index), n++);
  });

  it('the compact range yields the published root of every size and stores every published node', () => {
    const leaves = (ref.leafInputs as string[]).map((h) => hashLeaf(hex(h)));
    const range = emptyRange();
    const stored = new Map<string, string>();
    assert.equal(rangeRoot(range).toString('hex'), ref.rootHashes[0]);
    leaves.forEach((leaf, i) => {
      for (const n of appendLeaf(range, leaf)) stored.set(`${n.level}/${n.index}`, n.hash.toString('hex'));
      assert.equal(rangeRoot(range).toString('hex'), ref.rootHashes[i + 1], `root of size ${i + 1}`);
      assert.equal(range.hashes.length, rangeNodes(range.size).length);
    });
    for (const [l, level] of (ref.nodeHashes as string[][]).entries())
      for (const [i, h] of level.entries()) assert.equal(stored.get(`${l}/${i}`), h, `node ${l}/${i}`);
  });
});

describe('published inclusion and consistency probes (transparency-dev/merkle testdata)', () => {
  const inclusion = load('inclusion.json').vectors as InclusionProbe[];
  const consistency = load('consistency.json').vectors as ConsistencyProbe[];

  it(`all ${inclusion.length} inclusion probes: happy paths verify, every corrupted variant fails`, () => {
    assert.equal(inclusion.length, 98);
    const wrong: string[] = [];
    for (const p of inclusion) {
      const v = verifyInclusion(
        p.leafIdx,
        p.treeSize,
        b64(p.leafHash),
        (p.proof ?? []).map(b64),
        b64(p.root),
      );
      if (v.ok === p.wantErr) wrong.push(`${p.file} (${p.desc}): ${v.ok ? 'verified' : v.reason}`);
    }
    assert.deepEqual(wrong, []);
    assert.ok(inclusion.filter((p) => p.wantErr).length > 80, 'most probes are corrupted variants');
  });

  it(`all ${consistency.length} consistency probes: happy paths verify, every corrupted variant fails`, () => {
    assert.equal(consistency.length, 98);
    const wrong: string[] = [];
    for (const p of consistency) {
      const v = verifyConsistency(p.size1, p.size2, (p.proof ?? []).map(b64), b64(p.root1), b64(p.root2));
      if (v.ok === p.wantErr) wrong.push(`${p.file} (${p.desc}): ${v.ok ? 'verified' : v.reason}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('proofs generated over the reference tree are byte for byte the published happy paths', async () => {
    const ref = load('reference.json');
    const tree = build((ref.leafInputs as string[]).map((h) => hashLeaf(hex(h))));
    const ofReference = (size: number, root: string) => root === hex(ref.rootHashes[size]).toString('base64');
    const happyIncl = inclusion.filter((p) => !p.wantErr && ofReference(p.treeSize, p.root));
    assert.equal(happyIncl.length, 5);
    for (const p of happyIncl) {
      const proof = await inclusionProof(tree.read, p.leafIdx, p.treeSize);
      assert.deepEqual(
        proof.map((h) => h.toString('base64')),
        p.proof ?? [],
        p.file,
      );
    }
    const happyCons = consistency.filter(
      (p) => !p.wantErr && p.size2 > 1 && ofReference(p.size1, p.root1) && ofReference(p.size2, p.root2),
    );
    assert.equal(happyCons.length, 4);
    for (const p of happyCons) {
      const proof = await consistencyProof(tree.read, p.size1, p.size2);
      assert.deepEqual(
        proof.map((h) => h.toString('base64')),
        p.proof ?? [],
        p.file,
      );
    }
  });
});

/**
 * Corruptions that must make any proof fail. A larger tree size is not among them: the audit path of
 * leaf 0 in a tree of 17 leaves also reads as one in a tree of 18 (the last node could cover two
 * leaves), so such a proof still binds the same root; the published probes cover size changes.
 */
type Mutation = 'flip' | 'extend' | 'truncate' | 'prepend' | 'index' | 'root' | 'leaf';

function mutate(proof: Buffer[], kind: Mutation, at: number, bitNo: number): Buffer[] | null {
  const out = proof.map((h) => Buffer.from(h));
  switch (kind) {
    case 'flip': {
      if (!out.length) return null;
      const h = out[at % out.length]!;
      h[bitNo % 32]! ^= 1 << (bitNo % 8);
      return out;
    }
    case 'extend':
      return [...out, hashLeaf(`extra ${at}`)];
    case 'prepend':
      return [hashLeaf(`extra ${at}`), ...out];
    case 'truncate':
      return out.length ? out.slice(0, -1) : null;
    default:
      return out;
  }
}

const mutation = fc.constantFrom<Mutation>('flip', 'extend', 'truncate', 'prepend', 'index', 'root', 'leaf');

describe('properties up to 2,000 leaves (fast-check)', () => {
  it('the compact range root equals the root computed by recursion, for every size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), (n) => {
        const { range } = build(LEAVES.slice(0, n));
        assert.deepEqual(rangeRoot(range), mth(LEAVES.slice(0, n)));
        assert.equal(range.hashes.length, rangeNodes(n).length);
      }),
      { numRuns: 60 },
    );
  });

  it('subtree hashes of any aligned range come from stored nodes and equal the recursive hash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 1999 }), async (n, b) => {
        const begin = Math.min(b, n - 1);
        assert.deepEqual(await subtreeHash(BIG.read, begin, n), mth(LEAVES.slice(begin, n)));
      }),
      { numRuns: 100 },
    );
  });

  it('every inclusion proof verifies against the root; a mutated one does not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 2000 })
          .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))),
        mutation,
        fc.nat(),
        fc.nat(),
        async ([n, i], kind, at, bitNo) => {
          const root = rangeRoot(build(LEAVES.slice(0, n)).range);
          const proof = await inclusionProof(BIG.read, i, n);
          const ok = verifyInclusion(i, n, LEAVES[i]!, proof, root);
          assert.ok(ok.ok, `leaf ${i} of ${n}: ${ok.ok || ok.reason}`);
          const bad = mutate(proof, kind, at, bitNo);
          if (!bad) return;
          const index = kind === 'index' ? (i + 1 + (at % n)) % (n + 1) : i;
          if (kind === 'index' && index === i) return;
          const rootX = kind === 'root' ? hashLeaf(`other root ${at}`) : root;
          const leaf = kind === 'leaf' ? hashLeaf(`other leaf ${at}`) : LEAVES[i]!;
          const v = verifyInclusion(index, n, leaf, bad, rootX);
          assert.equal(v.ok, false, `mutation ${kind} of the proof of leaf ${i} in ${n} still verifies`);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('every consistency proof verifies between the two roots; a mutated one does not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 2000 })
          .chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n))),
        mutation,
        fc.nat(),
        fc.nat(),
        async ([m, n], kind, at, bitNo) => {
          const root1 = mth(LEAVES.slice(0, m));
          const root2 = rangeRoot(build(LEAVES.slice(0, n)).range);
          const proof = await consistencyProof(BIG.read, m, n);
          const ok = verifyConsistency(m, n, proof, root1, root2);
          assert.ok(ok.ok, `${m} → ${n}: ${ok.ok || ok.reason}`);
          const bad = mutate(proof, kind, at, bitNo);
          if (!bad) return;
          // 'index' moves the first size, 'leaf' changes the first root.
          const size1 = kind === 'index' ? (m === 1 ? 2 : m - 1) : m;
          const r1 = kind === 'leaf' ? hashLeaf(`other root1 ${at}`) : root1;
          const r2 = kind === 'root' ? hashLeaf(`other root2 ${at}`) : root2;
          if (size1 > n && kind === 'index') return; // no longer a proof between two trees of this log
          const v = verifyConsistency(size1, n, bad, r1, r2);
          assert.equal(v.ok, false, `mutation ${kind} of the proof ${m} → ${n} still verifies`);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("an event's leaf data is exactly the canonical JSON of {project_id, seq, hash}", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.string({ unit: 'binary' }),
        (project_id, seq, hash) => {
          fc.pre(project_id.isWellFormed() && hash.isWellFormed());
          assert.equal(eventLeafData({ project_id, seq, hash }), canonicalJson({ project_id, seq, hash }));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('proofs built over nodes fetched in one go equal those read node by node', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 2000 })
          .chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n))),
        async ([m, n]) => {
          let fetches = 0;
          const fetch = async (ids: readonly { level: number; index: number }[]) => {
            fetches++;
            return new Map(
              ids.map((x) => [`${x.level}/${x.index}`, BIG.nodes.get(`${x.level}/${x.index}`)!]),
            );
          };
          const both = async (read: NodeReader) => [
            await inclusionProof(read, m - 1, n),
            await consistencyProof(read, m, n),
            await subtreeHash(read, 0, n),
          ];
          assert.deepEqual(await withNodes(fetch, both), await both(BIG.read));
          assert.ok(fetches <= 1);
        },
      ),
      { numRuns: 50 },
    );
  });
});
