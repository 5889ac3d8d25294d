// Checks shared by the hostile-input tests: every answer is one of the contract's
// statuses, with a well-formed JSON body, no stack trace and no secret.
import { connect } from 'node:net';
import { TEST_JWT_SECRET, type HttpAnswer, type TestApp } from './test-app.js';

/** Traces of a stack or of the code's layout, which no answer may carry. */
const STACK_TRACE =
  /\bat [\w$.<>]+ \(|\bat (async )?[\w$.]+ [(/]|\.(ts|js|mjs):\d+|node_modules|\/work\/|\/src\/|TypeError|ReferenceError|QueryFailedError|SyntaxError:/;

/** What an answer must never contain, whatever was sent. */
export function secretsOf(t: TestApp, extra: string[] = []): string[] {
  const url = new URL(t.databaseUrl);
  return [TEST_JWT_SECRET, t.config.jwt.secret.toString('utf8'), decodeURIComponent(url.password), '$argon2', ...extra].filter(
    (s) => s.length >= 6,
  );
}

/**
 * The answer is one of `allowed`, its body JSON (an object, or an array for lists) with an
 * `error` string when it is an error, and it shows no stack trace and no secret.
 */
export function expectWellFormed(answer: HttpAnswer, allowed: readonly number[], secrets: readonly string[], context = ''): void {
  const where = `${context} → ${answer.status} ${answer.text.slice(0, 300)}`;
  if (!allowed.includes(answer.status)) throw new Error(`unexpected status: ${where}`);
  if (answer.status >= 500) throw new Error(`5xx: ${where}`);
  if (answer.status !== 204) {
    const type = answer.headers.get('content-type') ?? '';
    if (!type.includes('application/json') && !type.includes('ndjson') && !type.includes('text/csv'))
      throw new Error(`not JSON (${type}): ${where}`);
    if (type.includes('application/json')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(answer.text);
      } catch {
        throw new Error(`body is not JSON: ${where}`);
      }
      if (parsed === null || typeof parsed !== 'object') throw new Error(`body is not a JSON object: ${where}`);
      if (answer.status >= 400 && typeof (parsed as { error?: unknown }).error !== 'string')
        throw new Error(`error without "error": ${where}`);
    }
  }
  if (STACK_TRACE.test(answer.text)) throw new Error(`stack trace or code path in the body: ${where}`);
  for (const s of secrets) if (answer.text.includes(s)) throw new Error(`secret in the body (${s.slice(0, 4)}…): ${where}`);
}

export interface RawAnswer {
  /** The status of the answer's status line; 0 when no status line came. */
  status: number;
  body: string;
  /** Every byte received, as latin1 text. */
  raw: string;
  /**
   * How the connection ended: 'closed' by the server after a clean shutdown of its side (FIN),
   * 'reset' (ECONNRESET, or EPIPE writing to a connection the server had already closed),
   * 'timeout' (nothing for 10 s: this side gave up), or 'error' for any other socket error.
   */
  end: 'closed' | 'reset' | 'timeout' | 'error';
  /** The socket error's code, when there was one. */
  errorCode?: string;
}

/** Sends raw bytes (a request fetch would refuse to build) and returns the status line and body. */
export function rawRequest(baseUrl: string, request: Buffer | string): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let data = '';
    let end: RawAnswer['end'] = 'closed';
    let errorCode: string | undefined;
    const done = (): void => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      const body = data.split('\r\n\r\n').slice(1).join('\r\n\r\n');
      resolve({ status, body, raw: data, end, ...(errorCode !== undefined ? { errorCode } : {}) });
    };
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (end !== 'closed') return;
      errorCode = err.code;
      end = err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'error';
    });
    socket.on('close', done);
    socket.setTimeout(10_000, () => {
      end = 'timeout';
      socket.destroy();
    });
    socket.write(request, () => socket.end());
  });
}

/** A generated-inputs counter, printed at the end of a file. */
export class InputCounter {
  private readonly counts = new Map<string, number>();
  add(what: string, n = 1): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + n);
  }
  get total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
  report(file: string): void {
    const parts = [...this.counts].map(([k, v]) => `${k} ${v}`).join(', ');
    process.stdout.write(`\n${file}: ${this.total} hostile inputs sent (${parts})\n`);
  }
}
