import { Transform } from 'node:stream';
import { toFhirAuditEvent, type FhirSource } from './audit-fhir.js';
import type { AuditEvent } from './audit.types.js';

// The export's two stream transforms: PostgreSQL formats the rows (COPY … TO STDOUT), these finish
// the format on the way to the client and count the rows, with back-pressure.

const COPY_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
/** A COPY text field as it was stored: backslash sequences undone (`\N`, NULL, is handled by the callers). */
const copyUnescape = (s: string): string => (s.includes('\\') ? s.replace(/\\([\s\S])/g, (_m, c: string) => COPY_ESCAPES[c] ?? c) : s);
const jsonString = (s: string): string => (s === '\\N' ? 'null' : JSON.stringify(copyUnescape(s)));
/** float8 text is a JSON number, except NaN and ±Infinity, written as strings (as PostgreSQL's to_json does). */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const jsonNumber = (s: string): string => (s === '\\N' ? 'null' : JSON_NUMBER.test(s) ? s : JSON.stringify(s));

/**
 * Turns the COPY text rows of the export's NDJSON columns (AuditLongRead.copyEvents; tab-separated,
 * one a line: tabs and line breaks inside values are escaped) into NDJSON lines, the same shape as
 * GET /api/audit/events items, and counts them. `details` is jsonb's own text, which is JSON already.
 */
export class CopyTextToNdjson extends Transform {
  private rest: Buffer | null = null;
  private lines = 0;
  private reported = 0;
  constructor(private readonly onRows?: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    // A row ends at a LF byte, which is never part of a multi-byte UTF-8 character.
    const end = buf.lastIndexOf(10);
    if (end === -1) {
      this.rest = buf;
      done();
      return;
    }
    this.rest = end + 1 < buf.length ? buf.subarray(end + 1) : null;
    const text = buf.toString('utf8', 0, end + 1);
    let out = '';
    for (let from = 0; from < text.length;) {
      const nl = text.indexOf('\n', from);
      const f = text.slice(from, nl).split('\t');
      if (f.length !== 12) {
        done(new Error(`export: unexpected COPY row (${f.length} fields)`));
        return;
      }
      out +=
        `{"id":${jsonString(f[0])},"occurredAt":${jsonString(f[1])},"type":${jsonString(f[2])},"outcome":${jsonString(f[3])},` +
        `"actorUserId":${jsonString(f[4])},"tokenId":${jsonString(f[5])},"ip":${jsonString(f[6])},"userAgent":${jsonString(f[7])},` +
        `"requestId":${jsonString(f[8])},"latencyMs":${jsonNumber(f[9])},"details":${copyUnescape(f[10])},"hash":${jsonString(f[11])}}\n`;
      from = nl + 1;
      this.lines += 1;
    }
    if (this.onRows && this.lines - this.reported >= 10000) {
      this.reported = this.lines;
      this.onRows(this.lines);
    }
    done(null, Buffer.from(out, 'utf8'));
  }
  override _flush(done: (err?: Error | null) => void): void {
    if (this.rest) {
      done(new Error('export: the COPY output ended in the middle of a row'));
      return;
    }
    this.onRows?.(this.lines);
    done();
  }
}

/**
 * PostgreSQL ends CSV records with LF; RFC 4180 wants CRLF. Line breaks inside quoted fields
 * stay as they are: the quote state is followed across chunks ("" toggles it twice). Also
 * counts the records (the header excluded).
 */
export class CsvRecordEnds extends Transform {
  private inQuotes = false;
  private records = 0;
  private reported = 0;
  constructor(private readonly onRows?: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err: null, data: Buffer) => void): void {
    const out = Buffer.allocUnsafe(chunk.length * 2);
    let o = 0;
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === 34) this.inQuotes = !this.inQuotes;
      else if (b === 10 && !this.inQuotes) {
        o += chunk.copy(out, o, from, i);
        out[o++] = 13;
        out[o++] = 10;
        from = i + 1;
        this.records += 1;
      }
    }
    o += chunk.copy(out, o, from);
    if (this.onRows && this.records - this.reported >= 10000) {
      this.reported = this.records;
      this.onRows(this.records - 1);
    }
    done(null, out.subarray(0, o));
  }
  override _flush(done: () => void): void {
    this.onRows?.(Math.max(0, this.records - 1));
    done();
  }
}

/** Turns the NDJSON lines of CopyTextToNdjson (whole lines per chunk) into FHIR R4 AuditEvents, one a line. */
export class NdjsonToFhir extends Transform {
  private rest = '';
  constructor(private readonly source: FhirSource) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    const text = this.rest + chunk.toString('utf8');
    const end = text.lastIndexOf('\n');
    this.rest = text.slice(end + 1);
    let out = '';
    for (const line of text.slice(0, end + 1).split('\n')) {
      if (line !== '') out += `${JSON.stringify(toFhirAuditEvent(JSON.parse(line) as AuditEvent, this.source))}\n`;
    }
    done(null, Buffer.from(out, 'utf8'));
  }
  override _flush(done: (err?: Error | null) => void): void {
    done(this.rest === '' ? null : new Error('export: the NDJSON output ended in the middle of a line'));
  }
}
