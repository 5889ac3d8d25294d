import 'reflect-metadata';
import { GUARDS_METADATA } from '@nestjs/common/constants.js';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ACCESS_RULE } from '../access/access.decorator.js';
import { RATE_LIMITS } from '../rate-limit/rate-limit.decorator.js';
import { ownBodyAnswerOf, type OwnBodyAnswer } from '../common/own-body-answer.js';
import { McpValidationController } from './mcp-validation.controller.js';
import { NOT_JSON } from './mcp-validation.service.js';
import { bindValidateRoute, VALIDATE_PATH } from './validate-route.js';

/** Stands for the controller: answers which handler ran. */
const direct = {
  validate: async (_req: FastifyRequest, reply: FastifyReply) => reply.send({ by: 'controller' }),
} as unknown as McpValidationController;
/** Stands for the handler Nest registers for a route. */
const viaNest = async (_req: FastifyRequest, reply: FastifyReply) => reply.send({ by: 'nest' });
/** Stands for the route's own answer to bodies. */
const bodyAnswer: OwnBodyAnswer = { notJson: NOT_JSON, refused: async () => undefined };

describe('bindValidateRoute', () => {
  let fastify: FastifyInstance;
  beforeEach(() => {
    fastify = Fastify();
  });
  afterEach(async () => {
    await fastify.close();
  });

  it('has Fastify call the controller for POST /api/mcp/validate, and leaves every other route to Nest', async () => {
    bindValidateRoute(fastify, direct, bodyAnswer);
    fastify.post(VALIDATE_PATH, viaNest);
    fastify.post('/api/mcp/other', viaNest);
    fastify.get(VALIDATE_PATH, viaNest);

    const base = await fastify.listen({ host: '127.0.0.1', port: 0 });
    const by = async (method: string, path: string): Promise<unknown> =>
      ((await (await fetch(base + path, { method })).json()) as { by: unknown }).by;

    expect(await by('POST', VALIDATE_PATH)).toBe('controller');
    expect(await by('POST', `${VALIDATE_PATH}?x=1`)).toBe('controller');
    expect(await by('POST', '/api/mcp/other')).toBe('nest');
    expect(await by('GET', VALIDATE_PATH)).toBe('nest');
  });

  it('gives POST /api/mcp/validate its own answer to bodies, and no other route', async () => {
    const report = async (req: FastifyRequest, reply: FastifyReply) => reply.send({ own: ownBodyAnswerOf(req) === bodyAnswer });
    bindValidateRoute(fastify, { validate: report } as unknown as McpValidationController, bodyAnswer);
    fastify.post(VALIDATE_PATH, viaNest);
    fastify.post('/api/mcp/other', report);
    fastify.get(VALIDATE_PATH, report);

    const base = await fastify.listen({ host: '127.0.0.1', port: 0 });
    const own = async (method: string, path: string): Promise<unknown> =>
      ((await (await fetch(base + path, { method })).json()) as { own: unknown }).own;

    expect(await own('POST', VALIDATE_PATH)).toBe(true);
    expect(await own('POST', '/api/mcp/other')).toBe(false);
    expect(await own('GET', VALIDATE_PATH)).toBe(false);
  });

  describe('refuses to start when the route would skip what is put on it', () => {
    const handler = McpValidationController.prototype.validate;
    const cases: Array<[string, string, unknown]> = [
      ['a guard on the handler', GUARDS_METADATA, [class {}]],
      ['a rate limit on the handler', RATE_LIMITS, ['login']],
      ['an access rule other than public', ACCESS_RULE, { roles: ['admin'] }],
    ];
    it.each(cases)('%s', (_name, key, value) => {
      const before: unknown = Reflect.getMetadata(key, handler);
      Reflect.defineMetadata(key, value, handler);
      try {
        expect(() => bindValidateRoute(fastify, direct, bodyAnswer)).toThrow(/bound to its controller directly/);
      } finally {
        if (before === undefined) Reflect.deleteMetadata(key, handler);
        else Reflect.defineMetadata(key, before, handler);
      }
    });

    it('a guard on the controller class', () => {
      Reflect.defineMetadata(GUARDS_METADATA, [class {}], McpValidationController);
      try {
        expect(() => bindValidateRoute(fastify, direct, bodyAnswer)).toThrow(/found: __guards__/);
      } finally {
        Reflect.deleteMetadata(GUARDS_METADATA, McpValidationController);
      }
    });

    it('a guard on the controller class, with an empty list of guards on the handler (Nest runs both)', () => {
      Reflect.defineMetadata(GUARDS_METADATA, [class {}], McpValidationController);
      Reflect.defineMetadata(GUARDS_METADATA, [], handler);
      try {
        expect(() => bindValidateRoute(fastify, direct, bodyAnswer)).toThrow(/found: __guards__/);
      } finally {
        Reflect.deleteMetadata(GUARDS_METADATA, McpValidationController);
        Reflect.deleteMetadata(GUARDS_METADATA, handler);
      }
    });

    it('but not as the controller is', () => {
      expect(() => bindValidateRoute(fastify, direct, bodyAnswer)).not.toThrow();
    });
  });
});
