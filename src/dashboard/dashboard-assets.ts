import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import { Logger, type OnModuleInit } from '@nestjs/common';

/** One file of the dashboard, read once at start, with its compressed forms. */
export interface Asset {
  name: string;
  contentType: string;
  identity: Buffer;
  gzip: Buffer;
  br: Buffer;
  etag: string;
}

export type Encoding = 'br' | 'gzip' | 'identity';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Names a URL may ask for: flat, lower-case, with a known extension. */
export const ASSET_NAME = /^[a-z0-9][a-z0-9-]*\.(html|js|css|png|svg)$/;

/**
 * Where the built dashboard is: `dist/dashboard`, next to `dist/src` when the
 * service runs compiled, and under the project's `dist/` when its TypeScript
 * runs directly (the tests; `npm test` builds first).
 */
export function defaultDashboardDir(moduleUrl: string = import.meta.url): string {
  const here = fileURLToPath(new URL('.', moduleUrl));
  return moduleUrl.endsWith('.ts') ? join(here, '..', '..', 'dist', 'dashboard') : join(here, '..', '..', 'dashboard');
}

/**
 * The preferred encoding the client accepts (RFC 9110 §12.5.3), from brotli,
 * gzip and none. `q=0` refuses an encoding.
 */
export function pickEncoding(acceptEncoding: unknown): Encoding {
  if (typeof acceptEncoding !== 'string' || acceptEncoding === '') return 'identity';
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.toLowerCase().split(',')) {
    const [coding, ...params] = part.trim().split(';');
    const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p)).find((m) => m);
    accepted.set(coding.trim(), q ? Number(q[1]) : 1);
  }
  const weight = (c: string): number => accepted.get(c) ?? accepted.get('*') ?? 0;
  if (weight('br') > 0) return 'br';
  if (weight('gzip') > 0) return 'gzip';
  return 'identity';
}

/** The dashboard's built files, read and compressed once: every answer is served from memory. */
export class DashboardAssets implements OnModuleInit {
  private readonly logger = new Logger(DashboardAssets.name);
  private readonly files = new Map<string, Asset>();

  constructor(private readonly dir: string = defaultDashboardDir()) {}

  onModuleInit(): void {
    if (!existsSync(this.dir)) {
      this.logger.error(`the dashboard is not built (${this.dir} is missing): run npm run build`);
      return;
    }
    for (const name of readdirSync(this.dir)) {
      if (!ASSET_NAME.test(name)) continue;
      const identity = readFileSync(join(this.dir, name));
      this.files.set(name, {
        name,
        contentType: CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
        identity,
        gzip: gzipSync(identity, { level: 9 }),
        br: brotliCompressSync(identity, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: identity.length } }),
        etag: `"${createHash('sha256').update(identity).digest('base64url').slice(0, 22)}"`,
      });
    }
  }

  get(name: string): Asset | undefined {
    return ASSET_NAME.test(name) ? this.files.get(name) : undefined;
  }

  /** Every file, for the size report. */
  list(): Asset[] {
    return [...this.files.values()];
  }
}
