// The benchmark's peer: oidc-provider (a certified OpenID Provider no one here wrote), in a process
// of its own, configured for token introspection (RFC 7662) and revocation (RFC 7009), tokens issued
// through its client_credentials grant, kept in memory. No audit, no database.
//
// Run by `npm run bench` (bench/validate-bench.ts) with PORT, CLIENT_ID and CLIENT_SECRET. A plain
// script (oidc-provider ships no types), run from the repository, not from dist/.
//
// The adapter is an in-memory Map: oidc-provider's own in-memory adapter is an LRU of 1 000
// entries, which would forget most of the benchmark's 2 000 tokens (introspected as inactive,
// a cheaper answer than the service gives for the same token).
import Provider from 'oidc-provider';

const port = Number(process.env.PORT ?? 3998);
const clientId = process.env.CLIENT_ID ?? 'bench-peer-client';
const clientSecret = process.env.CLIENT_SECRET ?? 'bench-peer-secret-bench-peer-secret-0123456789';

const store = new Map();

class MapAdapter {
  constructor(model) {
    this.model = model;
  }
  key(id) {
    return `${this.model}:${id}`;
  }
  async upsert(id, payload, expiresIn) {
    store.set(this.key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
  }
  async find(id) {
    const e = store.get(this.key(id));
    if (!e) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return e.payload;
  }
  async findByUserCode() {
    return undefined;
  }
  async findByUid() {
    return undefined;
  }
  async consume(id) {
    const e = store.get(this.key(id));
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) {
    store.delete(this.key(id));
  }
  async revokeByGrantId() {
    // client_credentials tokens have no grant.
  }
}

const provider = new Provider(`http://127.0.0.1:${port}`, {
  adapter: MapAdapter,
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read:data write:bookings',
    },
  ],
  scopes: ['read:data', 'write:bookings'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
  },
  ttl: { ClientCredentials: 30 * 24 * 3600 },
});
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => process.stdout.write(`peer listening on ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
