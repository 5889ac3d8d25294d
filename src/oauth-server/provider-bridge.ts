import type { FastifyReply, FastifyRequest } from 'fastify';
import { requestContextOf } from '../common/request-context.js';
import type { OAuthProviderService } from './oauth-provider.service.js';

/**
 * Hands a request Fastify routed (and whose body it parsed) to oidc-provider: the reply is hijacked,
 * the headers already set on it (security headers, request id) are copied to the raw answer, the
 * parsed body is put where the provider looks for it (`req.body`), and `url` may be rewritten (the
 * RFC 8414 metadata is the provider's discovery document). Resolves once the answer is sent.
 */
export async function toProvider(oauth: OAuthProviderService, req: FastifyRequest, reply: FastifyReply, url?: string): Promise<void> {
  const raw = req.raw as typeof req.raw & { body?: unknown; hospiai?: unknown };
  raw.body = req.body ?? undefined;
  raw.hospiai = requestContextOf(req);
  if (url !== undefined) raw.url = url;
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) reply.raw.setHeader(name, value as string | string[]);
  }
  const handler = oauth.handler;
  reply.hijack();
  const done = new Promise<void>((resolve) => {
    reply.raw.once('finish', resolve);
    reply.raw.once('close', resolve);
  });
  await handler(raw, reply.raw);
  await done;
}
