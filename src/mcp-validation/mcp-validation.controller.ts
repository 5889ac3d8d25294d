import { Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
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
import type { FastifyReply, FastifyRequest } from 'fastify';
import { API_TOKEN_SCHEME, Public } from '../access/access.decorator.js';
import { requestContextOf } from '../common/request-context.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { ValidateAnswerDto, ValidateErrorDto, ValidateRequestDto } from './mcp-validation.dto.js';
import { ANSWERS, McpValidationService } from './mcp-validation.service.js';

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
  @ApiBody({
    type: ValidateRequestDto,
    required: false,
    examples: {
      none: { value: {} },
      scopes: { value: { requiredScopes: ['write:bookings'] } },
      resource: { value: { requiredScopes: ['write:bookings'], resource: 'https://mcp-rdv.chu-exemple.fr/mcp' } },
    },
  })
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
      invalid: {
        summary: 'No token, malformed, bad signature, wrong algorithm/type/issuer, session JWT; bound to another MCP server than `resource` (wrong audience)',
        value: ANSWERS.invalid,
      },
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
    description:
      "`insufficient_scope`: the token lacks one of requiredScopes; `ip_not_allowed`: the caller's address (the MCP server's) is outside the token's IP allowlist",
    examples: {
      insufficient_scope: {
        summary: 'the token lacks one of requiredScopes',
        value: { ...ANSWERS.insufficientScope, requiredScopes: ['write:bookings'], scopes: ['read:data'] },
      },
      ip_not_allowed: { summary: "the caller's address is outside the token's IP allowlist", value: ANSWERS.ipNotAllowed },
    },
    headers: {
      'WWW-Authenticate': {
        description: 'The bearer challenge (RFC 6750), with the scopes asked for (insufficient_scope only)',
        schema: { type: 'string', example: 'Bearer error="insufficient_scope", scope="write:bookings"' },
      },
    },
  })
  @ApiBadRequestResponse({ type: ValidateErrorDto, description: 'The body is not {"requiredScopes": [...], "resource": "..."}', example: ANSWERS.badRequest })
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
