import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { Logger } from '@nestjs/common';
import { DashboardAssets, defaultDashboardDir, pickEncoding } from './dashboard-assets.js';

describe('pickEncoding', () => {
  it.each([
    [undefined, 'identity'],
    ['', 'identity'],
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0, gzip;q=0.5', 'gzip'],
    ['identity', 'identity'],
    ['*', 'br'],
    ['*;q=0, identity', 'identity'],
    ['GZIP', 'gzip'],
  ])('%j → %s', (header, expected) => {
    expect(pickEncoding(header)).toBe(expected);
  });
});

describe('defaultDashboardDir', () => {
  it('is dist/dashboard beside dist/src when compiled, and under dist/ from the sources', () => {
    expect(defaultDashboardDir('file:///app/dist/src/dashboard/dashboard-assets.js')).toBe('/app/dist/dashboard');
    expect(defaultDashboardDir('file:///app/src/dashboard/dashboard-assets.ts')).toBe('/app/dist/dashboard');
  });
});

describe('DashboardAssets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hospiai-assets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the known files once, with their types, ETags and compressed forms', () => {
    writeFileSync(join(dir, 'tokens.html'), '<!doctype html><title>x</title>');
    writeFileSync(join(dir, 'tokens.js'), 'console.log(1);\n'.repeat(50));
    writeFileSync(join(dir, 'notes.txt'), 'not served');
    writeFileSync(join(dir, 'Upper.js'), 'not served');
    const assets = new DashboardAssets(dir);
    assets.onModuleInit();
    expect(
      assets
        .list()
        .map((a) => a.name)
        .sort(),
    ).toEqual(['tokens.html', 'tokens.js']);
    const js = assets.get('tokens.js')!;
    expect(js.contentType).toBe('text/javascript; charset=utf-8');
    expect(js.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(gunzipSync(js.gzip).equals(js.identity)).toBe(true);
    expect(brotliDecompressSync(js.br).equals(js.identity)).toBe(true);
    expect(js.br.length).toBeLessThan(js.identity.length);
    expect(assets.get('../tokens.js')).toBeUndefined();
    expect(assets.get('notes.txt')).toBeUndefined();
  });

  it('starts without files when the dashboard is not built', () => {
    Logger.overrideLogger(false);
    const assets = new DashboardAssets(join(dir, 'missing'));
    assets.onModuleInit();
    expect(assets.list()).toEqual([]);
  });
});
