import { SCOPE_NAMES } from '../../scopes/src/index.js';
import { HospiAIAuth } from './auth.js';
import { HospiAIConfigError } from './config.js';
import { HOSPIAI_SCOPES } from './scopes.js';

const URL_OK = 'https://hospiai.example/api/mcp/validate';

describe('HospiAIAuth configuration', () => {
  it('reads HOSPIAI_VALIDATION_URL and HOSPIAI_TIMEOUT (seconds) from the environment', () => {
    const auth = HospiAIAuth.fromEnv({ HOSPIAI_VALIDATION_URL: URL_OK, HOSPIAI_TIMEOUT: '2.5' });
    expect(auth.config).toMatchObject({ validationUrl: URL_OK, timeoutMs: 2500, retries: 2 });
    expect(auth.config.cache).toEqual({ maxEntries: 1000, ttlMs: 30_000, failureTtlMs: 1_500 });
  });

  it('defaults the timeout to 10 s, as the integration guide does', () => {
    expect(HospiAIAuth.fromEnv({ HOSPIAI_VALIDATION_URL: URL_OK }).config.timeoutMs).toBe(10_000);
    expect(HospiAIAuth.fromEnv({ HOSPIAI_VALIDATION_URL: URL_OK, HOSPIAI_TIMEOUT: '' }).config.timeoutMs).toBe(10_000);
  });

  it('lets options win over the environment', () => {
    const auth = new HospiAIAuth(
      { validationUrl: 'http://127.0.0.1:3000/api/mcp/validate', timeoutMs: 750, retries: 0, cache: false },
      { HOSPIAI_VALIDATION_URL: URL_OK, HOSPIAI_TIMEOUT: '30' },
    );
    expect(auth.config).toMatchObject({
      validationUrl: 'http://127.0.0.1:3000/api/mcp/validate',
      timeoutMs: 750,
      retries: 0,
      cache: false,
    });
  });

  it('says which variable is missing', () => {
    expect(() => HospiAIAuth.fromEnv({})).toThrow(HospiAIConfigError);
    expect(() => HospiAIAuth.fromEnv({})).toThrow(/HOSPIAI_VALIDATION_URL/);
    expect(() => HospiAIAuth.fromEnv({ HOSPIAI_VALIDATION_URL: '  ' })).toThrow(/HOSPIAI_VALIDATION_URL/);
  });

  it.each([['not a url'], ['ftp://hospiai.example/validate'], ['/api/mcp/validate'], ['https://user:pw@hospiai.example/api/mcp/validate']])(
    'refuses the URL %j',
    (value) => {
      expect(() => HospiAIAuth.fromEnv({ HOSPIAI_VALIDATION_URL: value })).toThrow(/HOSPIAI_VALIDATION_URL/);
      expect(() => new HospiAIAuth({ validationUrl: value }, {})).toThrow(/validationUrl/);
    },
  );

  it.each([['abc'], ['0'], ['-1'], ['1e3'], ['301']])('refuses HOSPIAI_TIMEOUT=%j', (value) => {
    expect(() => HospiAIAuth.fromEnv({ HOSPIAI_VALIDATION_URL: URL_OK, HOSPIAI_TIMEOUT: value })).toThrow(/HOSPIAI_TIMEOUT/);
  });

  it.each([
    [{ timeoutMs: 0 }, /timeoutMs/],
    [{ timeoutMs: 1.5 }, /timeoutMs/],
    [{ retries: -1 }, /retries/],
    [{ retries: 11 }, /retries/],
    [{ cache: { maxEntries: 0 } }, /cache.maxEntries/],
    [{ cache: { ttlMs: -5 } }, /cache.ttlMs/],
    [{ cache: { failureTtlMs: 120_000 } }, /cache.failureTtlMs/],
  ])('refuses %j', (options, message) => {
    expect(() => new HospiAIAuth({ validationUrl: URL_OK, ...options }, {})).toThrow(message);
  });
});

describe('scope catalogue', () => {
  it('lists the same scopes as libs/scopes', () => {
    expect([...HOSPIAI_SCOPES]).toEqual([...SCOPE_NAMES]);
  });
});
