import { createPublicKey, hash, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson, GENESIS_HASH } from './audit-hash.js';

/**
 * A signed checkpoint of the audit chain's head (docs/audit.md, "Signed checkpoints"): the last
 * event's id and hash, how many events the chain has held up to it (pruned ones included), when it
 * was signed, and the previous checkpoint's hash, signed with Ed25519 by a key kept out of the
 * database. One JSON line of the checkpoint file, and one item of `GET /api/audit/checkpoints`.
 */
export interface AuditCheckpoint {
  /** 1, 2, 3… in signing order, across every instance. */
  sequence: number;
  lastId: string;
  lastHash: string;
  /** Events appended up to lastId, those retention pruned since included. */
  count: string;
  signedAt: string;
  /** The previous checkpoint's `hash` (64 zeros for the first). */
  previousHash: string;
  /** Which key signed: the first 16 hex digits of SHA-256 of its public key (SPKI, DER). */
  keyId: string;
  /** Ed25519 signature, base64, of the signed text of every field above. */
  signature: string;
  /** SHA-256, hex, of the canonical JSON of every field above and the signature: what the next one links to. */
  hash: string;
}

export type CheckpointProblem = 'malformed' | 'signature' | 'order' | 'missing_event' | 'hash_mismatch' | 'count_mismatch';

/** The checkpoint that verification found wrong, and how. */
export interface BrokenCheckpoint {
  /** Its line in the checkpoint file (1 for the first). */
  line: number;
  sequence: number | null;
  lastId: string | null;
  problem: CheckpointProblem;
}

/** What a checkpoint vouches for: every checked line, in file order. */
export interface CheckpointLine {
  line: number;
  checkpoint: AuditCheckpoint;
}

/** A checked checkpoint file: the lines that passed, in order, and the first that did not. */
export interface CheckpointSet {
  lines: CheckpointLine[];
  broken: BrokenCheckpoint | null;
}

const SIGNED_PREFIX = 'hospiai-audit-checkpoint-v1\n';
const HEX64 = /^[0-9a-f]{64}$/;
const DECIMAL = /^(0|[1-9]\d{0,18})$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

type Unsigned = Omit<AuditCheckpoint, 'signature' | 'hash'>;

/** The text that is signed: a fixed prefix (no other signature of this key can pass for one) and the canonical JSON. */
function signedText(c: Unsigned): Buffer {
  const { sequence, lastId, lastHash, count, signedAt, previousHash, keyId } = c;
  return Buffer.from(SIGNED_PREFIX + canonicalJson({ sequence, lastId, lastHash, count, signedAt, previousHash, keyId }), 'utf8');
}

function checkpointHash(c: Omit<AuditCheckpoint, 'hash'>): string {
  const { sequence, lastId, lastHash, count, signedAt, previousHash, keyId, signature } = c;
  return hash('sha256', canonicalJson({ sequence, lastId, lastHash, count, signedAt, previousHash, keyId, signature }), 'hex');
}

/** The key id of a public (or private) Ed25519 key. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return hash('sha256', pub.export({ format: 'der', type: 'spki' }), 'hex').slice(0, 16);
}

/** Signs a checkpoint of the head `lastId`/`lastHash`. */
export function signCheckpoint(
  head: { sequence: number; lastId: string; lastHash: string; count: string; signedAt: string; previousHash: string },
  privateKey: KeyObject,
): AuditCheckpoint {
  const unsigned: Unsigned = { ...head, keyId: keyIdOf(privateKey) };
  const signature = sign(null, signedText(unsigned), privateKey).toString('base64');
  return { ...unsigned, signature, hash: checkpointHash({ ...unsigned, signature }) };
}

/** One line of the checkpoint file, as written. */
export function checkpointLine(c: AuditCheckpoint): string {
  return `${JSON.stringify(c)}\n`;
}

/** An Ed25519 public key from PEM, base64 SPKI DER, or the answer of `GET /api/audit/checkpoints/public-key`. */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  let material = trimmed;
  if (trimmed.startsWith('{')) material = String((JSON.parse(trimmed) as { publicKey?: unknown }).publicKey ?? '');
  const key = material.includes('-----BEGIN')
    ? createPublicKey(material)
    : createPublicKey({ key: Buffer.from(material, 'base64'), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 public key (${key.asymmetricKeyType ?? 'unknown'})`);
  return key;
}

function shaped(v: unknown): v is AuditCheckpoint {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const c = v as Record<string, unknown>;
  return (
    Number.isSafeInteger(c.sequence) &&
    (c.sequence as number) >= 1 &&
    typeof c.lastId === 'string' &&
    DECIMAL.test(c.lastId) &&
    typeof c.count === 'string' &&
    DECIMAL.test(c.count) &&
    typeof c.lastHash === 'string' &&
    HEX64.test(c.lastHash) &&
    typeof c.previousHash === 'string' &&
    HEX64.test(c.previousHash) &&
    typeof c.hash === 'string' &&
    HEX64.test(c.hash) &&
    typeof c.signedAt === 'string' &&
    !Number.isNaN(Date.parse(c.signedAt)) &&
    typeof c.keyId === 'string' &&
    typeof c.signature === 'string' &&
    BASE64.test(c.signature)
  );
}

/**
 * Reads a checkpoint file and checks every line: its form, its signature (by the key its keyId
 * names, among `keys`), its hash, and the order of the lines (sequence and lastId grow; a line
 * that follows its predecessor's sequence links to that one's hash). Stops at the first line
 * that fails. Several instances may each keep a file of their own, so a gap in the sequence is
 * no fault; checkpoints are never trusted on the database's word.
 */
export function checkCheckpointFile(text: string, keys: readonly KeyObject[]): CheckpointSet {
  const byId = new Map(keys.map((k) => [keyIdOf(k), k] as const));
  const lines: CheckpointLine[] = [];
  const rows = text.split('\n');
  let previous: AuditCheckpoint | undefined;
  for (let i = 0; i < rows.length; i++) {
    const raw = rows[i].trim();
    if (raw === '') continue;
    const line = i + 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    if (!shaped(parsed)) {
      const p = (parsed ?? {}) as Partial<AuditCheckpoint>;
      return {
        lines,
        broken: {
          line,
          sequence: Number.isSafeInteger(p.sequence) ? (p.sequence as number) : null,
          lastId: typeof p.lastId === 'string' ? p.lastId : null,
          problem: 'malformed',
        },
      };
    }
    const c = parsed;
    const at = { line, sequence: c.sequence, lastId: c.lastId };
    const key = byId.get(c.keyId);
    const signatureOk = key !== undefined && verify(null, signedText(c), key, Buffer.from(c.signature, 'base64'));
    if (!signatureOk || checkpointHash(c) !== c.hash) return { lines, broken: { ...at, problem: 'signature' } };
    if (previous) {
      const inOrder = c.sequence > previous.sequence && BigInt(c.lastId) > BigInt(previous.lastId);
      const linked = c.sequence !== previous.sequence + 1 || c.previousHash === previous.hash;
      if (!inOrder || !linked) return { lines, broken: { ...at, problem: 'order' } };
    } else if (c.sequence === 1 && c.previousHash !== GENESIS_HASH) {
      return { lines, broken: { ...at, problem: 'order' } };
    }
    lines.push({ line, checkpoint: c });
    previous = c;
  }
  return { lines, broken: null };
}
