import { addressKind, isLoopbackHost, refusalOf } from './cimd-fetch.js';

describe('Client ID Metadata Document fetch: address policy', () => {
  it('sorts addresses into public, loopback, private and refused', () => {
    expect(['93.184.216.34', '2606:4700::1111'].map(addressKind)).toEqual(['public', 'public']);
    expect(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'].map(addressKind)).toEqual(['loopback', 'loopback', 'loopback', 'loopback']);
    expect(['10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1'].map(addressKind)).toEqual(
      Array(8).fill('private'),
    );
    expect(['0.0.0.0', '224.0.0.1', '255.255.255.255', '::', 'ff02::1', 'pas une adresse'].map(addressKind)).toEqual(Array(6).fill('refused'));
  });

  it('refuses loopback and private addresses unless allowed, special-use ones always', () => {
    const strict = { allowLoopback: false, allowPrivate: false };
    const open = { allowLoopback: true, allowPrivate: true };
    expect(refusalOf('93.184.216.34', strict)).toBeUndefined();
    expect(refusalOf('127.0.0.1', strict)).toBe('loopback address');
    expect(refusalOf('169.254.169.254', strict)).toBe('private or link-local address');
    expect(refusalOf('127.0.0.1', open)).toBeUndefined();
    expect(refusalOf('10.0.0.1', open)).toBeUndefined();
    expect(refusalOf('0.0.0.0', open)).toBe('special-use address');
    expect(refusalOf(undefined, open)).toBe('no address');
  });

  it('knows when the service itself listens on loopback', () => {
    expect(['127.0.0.1', '::1', 'localhost'].map(isLoopbackHost)).toEqual([true, true, true]);
    expect(['0.0.0.0', '10.0.0.5', 'hospiai.chu-exemple.fr'].map(isLoopbackHost)).toEqual([false, false, false]);
  });
});
