import { GUARDS_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { ACCESS_RULE } from '../access/access.decorator.js';
import type { AccessRule } from '../access/access.policy.js';
import type { OwnBodyAnswer } from '../common/own-body-answer.js';
import { requestContextOf } from '../common/request-context.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RATE_LIMITS } from '../rate-limit/rate-limit.decorator.js';
import { McpValidationController } from './mcp-validation.controller.js';
import { McpValidationService, NOT_JSON } from './mcp-validation.service.js';

/*
 * POST /api/mcp/validate is the one route with special cases, all of them here:
 * - Fastify calls its controller itself, in place of Nest's handler (bindValidateRoute);
 * - it answers every body itself (docs/api.md, "Validation": every call has its audit event and one of the
 *   route's answers): a JSON body that does not parse reaches it as NOT_JSON, a JSON string with
 *   a NUL character reaches it as it is, and a body Fastify refuses before the route runs (too
 *   large, of a type with no parser) is answered as one that is not JSON, through the validation
 *   service. It says so in its route config (src/common/own-body-answer.ts), which the JSON parser
 *   and the global exception filter read: they know no route by name.
 */

export const VALIDATE_PATH = '/api/mcp/validate';

/** Sets up the validate route's special cases: called once by createApp, before the application is initialised. */
export function setUpValidateRoute(app: NestFastifyApplication): void {
  const validation = app.get(McpValidationService);
  const metrics = app.get(MetricsService);
  bindValidateRoute(app.getHttpAdapter().getInstance(), app.get(McpValidationController), {
    notJson: NOT_JSON,
    refused: async (request, reply) => {
      const answer = await validation.validate(request.headers.authorization, NOT_JSON, requestContextOf(request));
      metrics.validationAnswered(answer.outcome);
      if (!reply.sent) await reply.status(answer.status).headers(answer.headers).send(answer.body);
    },
  });
}

/**
 * Makes Fastify call {@link McpValidationController.validate} itself for POST /api/mcp/validate, in
 * place of Nest's handler for the route (which runs the global guards, pipes and parameter
 * decorators before calling it), and gives the route its own answer to bodies. On this route
 * Nest's guards, pipes and parameter decorators decide nothing: it is public, asks for no rate
 * limit (its failure limit is the validation service's) and reads the raw request; skipping them
 * saves CPU on every call of the service's hottest route (docs/performance.md). The route stays
 * Nest's for everything else: it is declared, documented and listed from the controller,
 * Fastify's hooks run as on every route, and an error it throws still goes through Nest's
 * exception filters (they are Fastify's error handler).
 *
 * Must be called before the application is initialised (Nest registers its routes then). Throws at
 * start if the route is not public, or if guards, interceptors, pipes or a rate limit are put on
 * it: those would otherwise be skipped without a word.
 */
export function bindValidateRoute(fastify: FastifyInstance, controller: McpValidationController, bodyAnswer: OwnBodyAnswer): void {
  // Read as Nest reads them: guards, interceptors and pipes of the class and the handler add up;
  // the access rule and the rate limits are the handler's, else the class's (as the global guards read them).
  const reflector = new Reflector();
  const targets = [McpValidationController.prototype.validate, McpValidationController];
  const skipped = [GUARDS_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA].filter(
    (key) => reflector.getAllAndMerge<unknown[]>(key, targets).length > 0,
  );
  if ((reflector.getAllAndOverride<readonly string[] | undefined>(RATE_LIMITS, targets) ?? []).length > 0) skipped.push(RATE_LIMITS);
  const rule = reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_RULE, targets);
  if (skipped.length > 0 || rule?.public !== true) {
    throw new Error(
      `POST ${VALIDATE_PATH} is bound to its controller directly: it must be @Public() and carry no guards, interceptors, pipes ` +
        `or rate limit (public: ${rule?.public === true}; found: ${skipped.join(', ') || 'none'})`,
    );
  }
  fastify.addHook('onRoute', (route) => {
    if (route.url === VALIDATE_PATH && route.method === 'POST') {
      route.handler = (req, reply) => controller.validate(req, reply);
      route.config = { ...route.config, ownBodyAnswer: bodyAnswer };
    }
  });
}
