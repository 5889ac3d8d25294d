import { loadConfig } from './config.js';

const base = { NODE_ENV: 'test', JWT_SECRET: 'unit-test-secret-0123456789abcdefghijklmnopqrstuvwxyz', DATA_DIR: '/nonexistent-hospiai' };

describe('TRUST_PROXY', () => {
  it.each([
    [undefined, false],
    ['false', false],
    ['0', false],
    ['true', true],
    ['yes', true],
    ['127.0.0.1', ['127.0.0.1']],
    [' 10.0.0.0/8 , ::1, fd00::/8 ', ['10.0.0.0/8', '::1', 'fd00::/8']],
  ])('%j → %j', (value, expected) => {
    expect(loadConfig({ ...base, TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it.each(['proxy.local', '10.0.0.0/33', '::1/129', '10.0.0.1/8/8', '2'])('refuses %j with one line naming the variable', (value) => {
    expect(() => loadConfig({ ...base, TRUST_PROXY: value })).toThrow(
      /^Invalid configuration: TRUST_PROXY must be true, false or a comma-separated list/,
    );
  });
});
