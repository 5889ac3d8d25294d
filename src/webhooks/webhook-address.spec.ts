import { isPublicAddress, urlProblem } from './webhook-address.js';
import { retryDelayMs } from './webhook-dispatcher.service.js';

describe('webhook addresses', () => {
  it.each([
    ['127.0.0.1', false],
    ['10.1.2.3', false],
    ['172.16.0.1', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['::1', false],
    ['::', false],
    ['fd00::1', false],
    ['fe80::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['8.8.8.8', true],
    ['193.51.24.1', true],
    ['2001:4860:4860::8888', true],
    ['::ffff:8.8.8.8', true],
    ['not-an-address', false],
  ])('%s is public: %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  it('without private networks: https to a public host only', () => {
    expect(urlProblem('https://siem.chu-exemple.fr/hooks', false)).toBeNull();
    expect(urlProblem('https://8.8.8.8/hooks', false)).toBeNull();
    expect(urlProblem('http://siem.chu-exemple.fr/hooks', false)).toMatch(/https/);
    expect(urlProblem('https://127.0.0.1/hooks', false)).toMatch(/locale ou privée/);
    expect(urlProblem('https://[::1]/hooks', false)).toMatch(/locale ou privée/);
    expect(urlProblem('https://10.0.0.5/hooks', false)).toMatch(/locale ou privée/);
    expect(urlProblem('https://localhost/hooks', false)).toMatch(/locale/);
    expect(urlProblem('ftp://siem.chu-exemple.fr/', false)).toMatch(/https/);
    expect(urlProblem('not a url', false)).toMatch(/pas valide/);
    expect(urlProblem('https://u:p@siem.chu-exemple.fr/', false)).toMatch(/identifiants/);
  });

  it('with private networks: http and loopback too, never credentials', () => {
    expect(urlProblem('http://127.0.0.1:8080/hooks', true)).toBeNull();
    expect(urlProblem('http://10.0.0.5/hooks', true)).toBeNull();
    expect(urlProblem('http://u:p@127.0.0.1/hooks', true)).toMatch(/identifiants/);
  });

  it('retries back off exponentially, with ±20 % jitter, up to 4 hours', () => {
    expect(retryDelayMs(1, 0.5)).toBe(30_000);
    expect(retryDelayMs(2, 0.5)).toBe(60_000);
    expect(retryDelayMs(3, 0)).toBe(96_000);
    expect(retryDelayMs(3, 1)).toBe(144_000);
    expect(retryDelayMs(20, 0.5)).toBe(4 * 3_600_000);
  });
});
