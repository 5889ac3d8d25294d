import { randomUUID } from 'node:crypto';
import type { DestinationStream } from 'pino';
import secureJson from 'secure-json-parse';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { AppModule } from './app.module.js';
import { createPino, PinoLoggerService } from './common/logger.js';
import type { AppConfig } from './config/config.js';
import { NOT_JSON, VALIDATE_PATH } from './mcp-validation/mcp-validation.service.js';
import { MetricsService } from './metrics/metrics.service.js';
import { setupSwagger } from './swagger.js';

export interface CreateAppOptions {
  config: AppConfig;
  databaseUrl: string;
  /** Where log lines go (stdout by default); tests pass a stream to inspect them. */
  logDestination?: DestinationStream;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const START = Symbol('start');

/** Request body limit: every body of this API is small JSON. */
export const BODY_LIMIT = 64 * 1024;

/** Builds the application (not yet listening): Fastify, pino logs, request ids, metrics, errors, Swagger. */
export async function createApp({ config, databaseUrl, logDestination }: CreateAppOptions): Promise<NestFastifyApplication> {
  const log = createPino(config, logDestination);
  const adapter = new FastifyAdapter({
    loggerInstance: log,
    // One log line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 200 },
    requestIdHeader: false,
    // Behind a reverse proxy (TRUST_PROXY): the client's address and protocol come from X-Forwarded-*.
    trustProxy: typeof config.trustProxy === 'boolean' ? config.trustProxy : [...config.trustProxy],
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot({ config, databaseUrl }), adapter, {
    logger: new PinoLoggerService(log),
    abortOnError: false,
    // JSON bodies are parsed by the parser registered below.
    bodyParser: false,
  });

  const fastify = app.getHttpAdapter().getInstance();
  const metrics = app.get(MetricsService);
  fastify.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    (req as unknown as Record<symbol, bigint>)[START] = process.hrtime.bigint();
    void reply.header('X-Request-Id', req.id);
  });
  fastify.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    const start = (req as unknown as Record<symbol, bigint | undefined>)[START];
    const seconds = start ? Number(process.hrtime.bigint() - start) / 1e9 : 0;
    const route = req.routeOptions?.url ?? 'unmatched';
    metrics.observe(req.method, route, reply.statusCode, seconds);
    req.log.info({ method: req.method, route, status: reply.statusCode, ms: Math.round(seconds * 1e4) / 10 }, 'request');
  });
  // JSON bodies: an empty body with a JSON content type is no body (curl -H 'Content-Type: application/json'
  // without -d is common); prototype-poisoning keys are refused.
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch {
      // The validate route answers a bad body itself (API.md §4) and audits it like any other call.
      if (req.url.split('?')[0] === VALIDATE_PATH) return done(null, NOT_JSON);
      done(Object.assign(new SyntaxError('invalid JSON body'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }), undefined);
    }
  });
  await setupSwagger(app);
  return app;
}
