import { canonicalResource } from './resource-uri.js';

describe('canonicalResource', () => {
  it.each([
    ['https://mcp.example.com', 'https://mcp.example.com/'],
    ['https://mcp.example.com/', 'https://mcp.example.com/'],
    ['HTTPS://MCP.Example.COM/Mcp', 'https://mcp.example.com/Mcp'],
    ['https://mcp.example.com:443/mcp/', 'https://mcp.example.com/mcp'],
    ['https://mcp.example.com:8443/server/mcp', 'https://mcp.example.com:8443/server/mcp'],
    ['https://mcp.example.com/a/./b/../mcp', 'https://mcp.example.com/a/mcp'],
    ['https://mcp.example.com/mcp?tenant=1', 'https://mcp.example.com/mcp?tenant=1'],
    ['http://localhost:3001/mcp', 'http://localhost:3001/mcp'],
    ['http://127.0.0.1:3001/mcp/', 'http://127.0.0.1:3001/mcp'],
    ['http://[::1]:3001/mcp', 'http://[::1]:3001/mcp'],
  ])('%s is %s', (given, canonical) => {
    expect(canonicalResource(given)).toBe(canonical);
  });

  it('is idempotent', () => {
    for (const u of ['https://mcp.example.com', 'HTTPS://A.B/C/', 'http://localhost:1/x?y=1']) {
      const once = canonicalResource(u);
      expect(once).not.toBeNull();
      expect(canonicalResource(once!)).toBe(once);
    }
  });

  it.each([
    ['empty', ''],
    ['relative', 'mcp.example.com/mcp'],
    ['a path', '/mcp'],
    ['http on a non-loopback host', 'http://mcp.example.com/mcp'],
    ['http on a private address', 'http://10.0.0.1/mcp'],
    ['another scheme', 'ftp://mcp.example.com/'],
    ['a fragment', 'https://mcp.example.com/mcp#frag'],
    ['an empty fragment', 'https://mcp.example.com/mcp#'],
    ['credentials', 'https://user:pass@mcp.example.com/mcp'],
    ['a space', 'https://mcp.example.com/m cp'],
    ['a line break', 'https://mcp.example.com/\nmcp'],
    ['too long', `https://mcp.example.com/${'a'.repeat(2048)}`],
  ])('refuses %s', (_label, given) => {
    expect(canonicalResource(given)).toBeNull();
  });

  it('refuses what is not a string', () => {
    expect(canonicalResource(undefined as unknown as string)).toBeNull();
    expect(canonicalResource(42 as unknown as string)).toBeNull();
  });
});
