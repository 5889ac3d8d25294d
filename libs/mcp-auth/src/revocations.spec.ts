import { HospiAIAuth } from './auth.js';
import { HospiAIConfigError } from './config.js';
import type { RevocationFeedEvent } from './revocations.js';
import { SseParser, type SseMessage } from './sse.js';
import { StubRevocations } from '../test/stub-revocations.js';
import { StubService, contractHandler, type StubToken } from '../test/stub-service.js';

const EXP = Math.floor(Date.now() / 1000) + 3600;
const TOKENS: Record<string, StubToken> = {
  'tok-a': { tokenId: 'jti-a', userId: 'user-1', scopes: ['read:data'], exp: EXP },
  'tok-b': { tokenId: 'jti-b', userId: 'user-1', scopes: ['read:data'], exp: EXP },
};
const CREDS = { clientId: 'mcp_test client', clientSecret: 'mcps_s3cr3t:+/' };

describe('HospiAIAuth.followRevocations', () => {
  let service: StubService;
  let feed: StubRevocations;
  let auth: HospiAIAuth;
  let events: RevocationFeedEvent[];
  let now: number;

  beforeEach(async () => {
    service = await StubService.start(contractHandler(TOKENS));
    feed = await StubRevocations.start();
    events = [];
    now = Date.now();
    auth = new HospiAIAuth({ validationUrl: service.url, retries: 0, cache: { ttlMs: 30_000 }, now: () => now }, {});
  });
  afterEach(async () => {
    await auth.close();
    await feed.close();
    await service.close();
  });

  function follow(options: Parameters<HospiAIAuth['followRevocations']>[0] = {}) {
    return auth.followRevocations({ url: feed.url, ...CREDS, backoff: { baseMs: 10, maxMs: 50 }, onEvent: (e) => events.push(e), ...options });
  }

  it('connects with the client credentials (HTTP Basic, form-encoded) and is live after the ready event', async () => {
    const f = follow();
    await feed.waitFor(() => feed.openStreams === 1);
    expect(f.connected).toBe(false);
    const req = feed.requests[0];
    expect(req.accept).toBe('text/event-stream');
    expect(req.lastEventId).toBeUndefined();
    const decoded = Buffer.from(req.authorization!.replace(/^Basic /, ''), 'base64').toString('utf8');
    expect(decoded).toBe('mcp_test+client:mcps_s3cr3t%3A%2B%2F');
    feed.ready('7');
    await f.ready(2000);
    expect(f.connected).toBe(true);
    expect(f.lastEventId).toBe('7');
    expect(events).toEqual([{ type: 'connected', lastEventId: '7' }]);
  });

  it('evicts the cached validation of each revoked token at once', async () => {
    const f = follow();
    await feed.waitFor(() => feed.openStreams === 1);
    feed.ready('1');
    await f.ready();
    expect((await auth.validate('tok-a')).ok).toBe(true);
    expect((await auth.validate('tok-b')).ok).toBe(true);
    expect((await auth.validate('tok-a')).ok).toBe(true);
    expect(service.calls).toHaveLength(2);

    feed.revoked('2', ['jti-a', 'jti-unknown']);
    await feed.waitFor(() => events.some((e) => e.type === 'revoked'));
    expect(events.find((e) => e.type === 'revoked')).toEqual({ type: 'revoked', id: '2', tokenIds: ['jti-a', 'jti-unknown'], evicted: 1 });
    expect(auth.inspectCache()!.entries.map((e) => e.tokenId)).toEqual(['jti-b']);
    await auth.validate('tok-a');
    expect(service.calls).toHaveLength(3);
    expect(f.lastEventId).toBe('2');
    expect(f.stats).toMatchObject({ connections: 1, evicted: 1 });
  });

  it('reconnects after the stream is cut, sending Last-Event-ID so that the service replays what was missed', async () => {
    const f = follow();
    await feed.waitFor(() => feed.openStreams === 1);
    feed.ready('10');
    feed.revoked('11', ['jti-x']);
    await feed.waitFor(() => f.lastEventId === '11');
    feed.drop();
    await feed.waitFor(() => feed.requests.length === 2 && feed.openStreams === 1);
    expect(feed.requests[1].lastEventId).toBe('11');
    expect(f.connected).toBe(false);
    expect(events.some((e) => e.type === 'disconnected')).toBe(true);
    // The replay comes before ready.
    await auth.validate('tok-a');
    feed.revoked('12', ['jti-a']);
    feed.ready('12');
    await f.ready();
    expect(auth.inspectCache()!.size).toBe(0);
    // A clean end (the service shutting down) is followed by a reconnection too.
    feed.end();
    await feed.waitFor(() => feed.requests.length === 3);
    expect(feed.requests[2].lastEventId).toBe('12');
  });

  it('keeps retrying with backoff when the credentials are refused, and says why', async () => {
    feed.status = 401;
    const f = follow();
    await feed.waitFor(() => feed.requests.length >= 3);
    expect(f.connected).toBe(false);
    const failures = events.filter((e): e is Extract<RevocationFeedEvent, { type: 'disconnected' }> => e.type === 'disconnected');
    expect(failures[0].error).toContain('401');
    expect(failures.every((e) => e.retryInMs <= 50)).toBe(true);
    feed.status = 200;
    await feed.waitFor(() => feed.openStreams === 1);
    feed.ready('3');
    await f.ready();
  });

  it('asks the service on every validation while disconnected (onFeedDown: bypass-cache, the default), and uses the cache again once live', async () => {
    const f = follow();
    await feed.waitFor(() => feed.openStreams === 1);
    // Not yet live: nothing is answered from the cache.
    expect((await auth.validate('tok-a')).ok).toBe(true);
    expect((await auth.validate('tok-a')).ok).toBe(true);
    expect(service.calls).toHaveLength(2);
    feed.ready('1');
    await f.ready();
    expect((await auth.validate('tok-a')).ok).toBe(true);
    expect((await auth.validate('tok-a')).ok).toBe(true);
    expect(service.calls).toHaveLength(3);
    feed.status = 503;
    feed.drop();
    await feed.waitFor(() => !f.connected && feed.requests.length >= 2);
    // A revocation sent while down would be missed: the cached answer is not trusted.
    expect((await auth.validate('tok-a')).ok).toBe(true);
    expect((await auth.validate('tok-a')).ok).toBe(true);
    expect(service.calls).toHaveLength(5);
  });

  it('refuses every token as unavailable while disconnected with onFeedDown: refuse (fail closed)', async () => {
    const refusals: string[] = [];
    const closed = new HospiAIAuth({ validationUrl: service.url, retries: 0, onFailure: (reason, detail) => refusals.push(`${reason}: ${detail}`) }, {});
    const f = closed.followRevocations({ url: feed.url, ...CREDS, backoff: { baseMs: 10, maxMs: 50 }, onFeedDown: 'refuse' });
    try {
      await feed.waitFor(() => feed.openStreams === 1);
      const before = await closed.validate('tok-a');
      expect(before).toMatchObject({ ok: false, reason: 'unavailable' });
      expect(service.calls).toHaveLength(0);
      feed.ready('1');
      await f.ready();
      expect((await closed.validate('tok-a')).ok).toBe(true);
      feed.status = 503;
      feed.drop();
      await feed.waitFor(() => !f.connected);
      expect(await closed.validate('tok-a')).toMatchObject({ ok: false, reason: 'unavailable' });
      expect(refusals).toEqual([
        'unavailable: the revocation feed is not connected (onFeedDown: refuse)',
        'unavailable: the revocation feed is not connected (onFeedDown: refuse)',
      ]);
      expect(() => new HospiAIAuth({ validationUrl: service.url }, {}).followRevocations({ ...CREDS, url: feed.url, onFeedDown: 'x' as 'refuse' })).toThrow(
        /onFeedDown/,
      );
    } finally {
      await closed.close();
    }
  });

  it('drops the whole cache on a reset event', async () => {
    const f = follow();
    await feed.waitFor(() => feed.openStreams === 1);
    await auth.validate('tok-a');
    await auth.validate('tok-b');
    feed.write('id: 5\nevent: reset\ndata: {"reason":"unknown_last_event_id"}\n\n');
    feed.ready('5');
    await f.ready();
    expect(auth.inspectCache()!.size).toBe(0);
    expect(events.map((e) => e.type)).toEqual(['reset', 'connected']);
  });

  it('replaces a connection that brings nothing for idleTimeoutMs', async () => {
    follow({ idleTimeoutMs: 100 });
    await feed.waitFor(() => feed.requests.length >= 2, 3000);
    const failure = events.find((e) => e.type === 'disconnected') as { error: string } | undefined;
    expect(failure?.error).toContain('no data for 100 ms');
  });

  it('stops for good on close()', async () => {
    const f = follow();
    await feed.waitFor(() => feed.openStreams === 1);
    await auth.close();
    expect(f.connected).toBe(false);
    await feed.waitFor(() => feed.openStreams === 0);
    const n = feed.requests.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(feed.requests.length).toBe(n);
    await expect(f.ready(10)).rejects.toThrow('closed');
    // It can follow again afterwards.
    const again = follow();
    await feed.waitFor(() => feed.openStreams === 1);
    feed.ready('1');
    await again.ready();
  });

  it('refuses a second follower and a missing client id or secret', () => {
    follow();
    expect(() => follow()).toThrow('already follows');
    const other = new HospiAIAuth({ validationUrl: service.url }, {});
    expect(() => other.followRevocations({ clientSecret: 'x' })).toThrow(HospiAIConfigError);
    expect(() => other.followRevocations({ clientId: 'x' })).toThrow(/HOSPIAI_CLIENT_SECRET/);
    expect(() => other.followRevocations({ ...CREDS, url: 'ftp://x' })).toThrow(HospiAIConfigError);
  });

  it('finds its settings in the environment, the URL next to the validation URL', async () => {
    const env = { HOSPIAI_VALIDATION_URL: 'http://127.0.0.1:1/api/mcp/validate', HOSPIAI_CLIENT_ID: 'mcp_a', HOSPIAI_CLIENT_SECRET: 'mcps_b' };
    const seen: string[] = [];
    const fromEnv = HospiAIAuth.fromEnv(env, {
      fetch: async (url) => {
        seen.push(url);
        throw new Error('offline');
      },
    });
    fromEnv.followRevocations({ backoff: { baseMs: 10, maxMs: 10 } });
    await feed.waitFor(() => seen.length >= 1);
    await fromEnv.close();
    expect(seen[0]).toBe('http://127.0.0.1:1/api/mcp/revocations');
  });
});

describe('SseParser', () => {
  function parse(chunks: string[]): { messages: SseMessage[]; comments: string[]; retries: number[] } {
    const messages: SseMessage[] = [];
    const comments: string[] = [];
    const retries: number[] = [];
    const p = new SseParser({ onMessage: (m) => messages.push(m), onComment: (c) => comments.push(c), onRetry: (ms) => retries.push(ms) });
    for (const c of chunks) p.push(c);
    return { messages, comments, retries };
  }

  it('reads events split anywhere, with LF, CRLF or CR line ends, comments, retry and multi-line data', () => {
    const text = '\uFEFFretry: 2000\r\n\r\n: keep-alive\n\nid: 1\nevent: revoked\ndata: {"tokenIds":\ndata: ["a"]}\n\nid: 2\revent: ready\rdata: x\r\rdata:no space\n\n';
    for (const size of [1, 2, 3, 7, text.length]) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      const { messages, comments, retries } = parse(chunks);
      expect(retries).toEqual([2000]);
      expect(comments).toEqual(['keep-alive']);
      expect(messages).toEqual([
        { event: 'revoked', data: '{"tokenIds":\n["a"]}', lastEventId: '1' },
        { event: 'ready', data: 'x', lastEventId: '2' },
        { event: 'message', data: 'no space', lastEventId: '2' },
      ]);
    }
  });

  it('ignores blocks without data, unknown fields and ids holding NUL', () => {
    const { messages } = parse(['id: 3\n\nfoo: bar\ndata: y\n\nid: a\0b\ndata: z\n\n']);
    expect(messages).toEqual([
      { event: 'message', data: 'y', lastEventId: '3' },
      { event: 'message', data: 'z', lastEventId: '3' },
    ]);
  });
});
