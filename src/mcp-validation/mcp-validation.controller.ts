import { Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { GUARDS_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import {
  ApiBearerAuth,
  ApiBody,
  ApiExtension,
  ApiForbiddenResponse,
  ApiInternalServerErrorResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
  ApiBadRequestResponse,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { RETRY_AFTER_HEADER } from '../common/error-body.dto.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ACCESS_RULE, API_TOKEN_SCHEME, Public } from '../access/access.decorator.js';
import type { AccessRule } from '../access/access.policy.js';
import { requestContextOf } from '../common/request-context.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RATE_LIMITS } from '../rate-limit/rate-limit.decorator.js';
import { ValidateAnswerDto, ValidateErrorDto, ValidateRequestDto } from './mcp-validation.dto.js';
import { ANSWERS, McpValidationService, VALIDATE_PATH } from './mcp-validation.service.js';

@ApiTags('mcp')
@Controller('api/mcp')
export class McpValidationController {
  constructor(
    private readonly validation: McpValidationService,
    private readonly metrics: MetricsService,
  ) {}

  @Post('validate')
  @Public()
  @HttpCode(200)
  @ApiBearerAuth(API_TOKEN_SCHEME)
  @ApiExtension('x-access', 'public (the API token to check is the Authorization bearer)')
  @ApiOperation({
    summary: 'Check an API token (called by MCP servers on every request)',
    description:
      'Send the token as `Authorization: Bearer <token>` (scheme case-insensitive). Every call is audited before it is answered; ' +
      'a revoked token, or one whose owner is disabled, is refused from the very next call.',
  })
  @ApiBody({ type: ValidateRequestDto, required: false, examples: { none: { value: {} }, scopes: { value: { requiredScopes: ['write:bookings'] } } } })
  @ApiOkResponse({
    type: ValidateAnswerDto,
    example: {
      valid: true,
      user: {
        id: '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6',
        email: 'marie.curie@chu-exemple.fr',
        firstname: 'Marie',
        surname: 'Curie',
        name: 'Marie Curie',
        phoneNumber: '+33 1 23 45 67 89',
        profileCompletedAt: '2026-11-26T08:30:00.000Z',
      },
      token: { id: '0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b', name: 'Serveur FastMCP production', scopes: ['read:data'], expiresAt: '2027-02-24T09:00:00.000Z' },
      scopes: ['read:data'],
      exp: 1803456000,
    },
  })
  // With `type`, @nestjs/swagger builds the response's `content` itself (the schema and the
  // `example`/`examples` keys): a `content` given beside `type` is replaced, examples and all.
  @ApiUnauthorizedResponse({
    type: ValidateErrorDto,
    description: 'With `WWW-Authenticate: Bearer error="invalid_token"`',
    examples: {
      invalid: { summary: 'No token, malformed, bad signature, wrong algorithm/type/issuer, session JWT', value: ANSWERS.invalid },
      expired: { summary: 'Expired', value: ANSWERS.expired },
      revoked: { summary: 'Revoked, unknown, owner disabled or deleted', value: ANSWERS.revoked },
    },
    headers: {
      'WWW-Authenticate': {
        description: 'The bearer challenge (RFC 6750)',
        schema: { type: 'string', example: 'Bearer error="invalid_token"' },
      },
    },
  })
  @ApiForbiddenResponse({
    type: ValidateErrorDto,
    description: '`insufficient_scope`: the token lacks one of requiredScopes',
    example: { ...ANSWERS.insufficientScope, requiredScopes: ['write:bookings'], scopes: ['read:data'] },
    headers: {
      'WWW-Authenticate': {
        description: 'The bearer challenge (RFC 6750), with the scopes asked for',
        schema: { type: 'string', example: 'Bearer error="insufficient_scope", scope="write:bookings"' },
      },
    },
  })
  @ApiBadRequestResponse({ type: ValidateErrorDto, description: 'The body is not {"requiredScopes": [...]}', example: ANSWERS.badRequest })
  @ApiTooManyRequestsResponse({
    type: ValidateErrorDto,
    description:
      'Too many failed validations from this address (RATE_LIMIT_VALIDATE_FAILURES_PER_MINUTE): failures are answered 429 with ' +
      'Retry-After until the block expires; a valid token is still answered 200',
    example: ANSWERS.tooManyFailures,
    headers: { 'Retry-After': { description: 'Seconds until the block expires', schema: { type: 'integer', example: 42 } } },
  })
  @ApiInternalServerErrorResponse({ type: ValidateErrorDto, description: 'No usable signing key', example: ANSWERS.misconfigured })
  @ApiServiceUnavailableResponse({
    type: ValidateErrorDto,
    description: 'The database cannot be reached, or fails to read the token state (a timeout, a lock): with Retry-After',
    example: ANSWERS.unavailable,
    headers: RETRY_AFTER_HEADER,
  })
  async validate(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const answer = await this.validation.validate(req.headers.authorization, req.body, requestContextOf(req));
    this.metrics.validationAnswered(answer.outcome);
    await reply.status(answer.status).headers(answer.headers).send(answer.body);
  }
}

/**
 * Makes Fastify call {@link McpValidationController.validate} itself for POST /api/mcp/validate, in
 * place of Nest's handler for the route (which runs the global guards, pipes and parameter
 * decorators before calling it). On this route they decide nothing: it is public, asks for no rate
 * limit (its failure limit is the validation service's) and reads the raw request. Skipping them
 * took the app's CPU per answer from 264-292 µs to 244-250 µs on the benchmark (docs/performance-log.md).
 * The route stays Nest's for everything else: it is declared, documented and listed from the
 * controller, Fastify's hooks run as on every route, and an error it throws still goes through
 * Nest's exception filters (they are Fastify's error handler).
 *
 * Must be called before the application is initialised (Nest registers its routes then). Throws at
 * start if the route is not public, or if guards, interceptors, pipes or a rate limit are put on
 * it: those would otherwise be skipped without a word.
 */
export function bindValidateRoute(fastify: FastifyInstance, controller: McpValidationController): void {
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
    if (route.url === VALIDATE_PATH && route.method === 'POST') route.handler = (req, reply) => controller.validate(req, reply);
  });
}
