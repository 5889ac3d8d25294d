// The ceiling for POST /api/mcp/validate on this machine: a bare Fastify route that only
// checks the HS256 signature (Node's crypto, key imported once) and answers a small JSON.
// No database, no audit, no claims beyond the signature: what validation cannot beat.
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';

const key = createSecretKey(Buffer.from(process.env.JWT_SECRET ?? '', 'utf8'));
const port = Number(process.env.PORT ?? 3999);

const app = Fastify({ logger: false });
app.post('/api/mcp/validate', async (req, reply) => {
  const m = /^bearer\s+([^\s]+)$/i.exec(req.headers.authorization ?? '');
  const parts = m ? m[1].split('.') : [];
  if (parts.length === 3) {
    const expected = createHmac('sha256', key).update(`${parts[0]}.${parts[1]}`).digest();
    const given = Buffer.from(parts[2], 'base64url');
    if (given.length === expected.length && timingSafeEqual(given, expected)) {
      return reply.send({ valid: true });
    }
  }
  return reply.code(401).send({ error: 'Token invalide', code: 'invalid_token' });
});
await app.listen({ port, host: '127.0.0.1' });
process.stdout.write(`ceiling listening on ${port}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
