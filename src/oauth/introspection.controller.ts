import { Body, Controller, Headers, HttpCode, Post, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBasicAuth,
  ApiBody,
  ApiConsumes,
  ApiExtension,
  ApiExtraModels,
  ApiInternalServerErrorResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import { RETRY_AFTER_HEADER } from '../common/error-body.dto.js';
import type { FastifyReply } from 'fastify';
import { Public } from '../access/access.decorator.js';
import { ReqContext, type RequestContext } from '../common/request-context.js';
import { MCP_CLIENT_SCHEME } from '../mcp-clients/client-credentials.js';
import { IntrospectActiveDto, IntrospectInactiveDto, IntrospectRequestDto, OAuthErrorDto } from './introspection.dto.js';
import { IntrospectionService } from './introspection.service.js';

@ApiTags('oauth')
@Controller('api/oauth')
export class IntrospectionController {
  constructor(private readonly introspection: IntrospectionService) {}

  @Post('introspect')
  @Public()
  @HttpCode(200)
  @ApiBasicAuth(MCP_CLIENT_SCHEME)
  @ApiExtension('x-access', 'public (a registered MCP server: client_secret_basic or client_secret_post)')
  @ApiOperation({
    summary: 'Token introspection (RFC 7662) for registered MCP servers',
    description: [
      'For OAuth tooling (e.g. FastMCP `IntrospectionTokenVerifier`). The MCP server authenticates with the client id and secret from',
      '`POST /api/mcp/clients`: HTTP Basic (`client_secret_basic`) or `client_id`/`client_secret` in the form (`client_secret_post`), not both.',
      '',
      'The token is checked exactly as `POST /api/mcp/validate` checks it (signature, expiry, revocation, owner). A token validation would accept',
      'is `active: true` with its claims; any other (malformed, unknown, expired, revoked, owner disabled) is `{"active": false}` and nothing more.',
      'Every call is audited as a `token.introspect` event (outcome `valid`, `invalid`, `expired`, `revoked`, `error`, or `invalid_client`)',
      'before it is answered; an active answer updates the token\'s `lastUsedAt`.',
    ].join('\n'),
  })
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiBody({ type: IntrospectRequestDto })
  @ApiExtraModels(IntrospectActiveDto, IntrospectInactiveDto)
  @ApiOkResponse({
    description: 'The token is active (with its claims), or not (and nothing else is said)',
    content: {
      'application/json': {
        schema: { oneOf: [{ $ref: getSchemaPath(IntrospectActiveDto) }, { $ref: getSchemaPath(IntrospectInactiveDto) }] },
        examples: {
          active: {
            summary: 'A token validation accepts',
            value: {
              active: true,
              scope: 'read:data write:bookings',
              client_id: '0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b',
              sub: '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6',
              username: 'marie.curie@chu-exemple.fr',
              token_type: 'Bearer',
              exp: 1803456000,
              iat: 1795680000,
              jti: '0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b',
              iss: 'hospiai',
              aud: ['hospiai:api', 'https://mcp-rdv.chu-exemple.fr/mcp'],
            },
          },
          inactive: {
            summary: 'Malformed, unknown, expired, revoked, its owner disabled, or bound to another MCP server than the caller',
            value: { active: false },
          },
        },
      },
    },
  })
  @ApiBadRequestResponse({
    type: OAuthErrorDto,
    description: 'No token, a parameter given twice, a body that is not a form, or two client authentication methods at once',
    example: { error: 'invalid_request', error_description: 'token is required, once' },
  })
  @ApiUnauthorizedResponse({
    type: OAuthErrorDto,
    description: 'No, unknown, wrong or revoked client credentials; with `WWW-Authenticate: Basic`',
    example: { error: 'invalid_client', error_description: 'Client authentication failed' },
  })
  @ApiInternalServerErrorResponse({ type: OAuthErrorDto, description: 'No usable signing key', example: { error: 'server_error', error_description: 'Configuration serveur invalide' } })
  @ApiServiceUnavailableResponse({
    type: OAuthErrorDto,
    description: 'The database cannot be reached, or fails to read the token state (a timeout, a lock): with Retry-After',
    example: { error: 'temporarily_unavailable', error_description: 'Service indisponible' },
    headers: RETRY_AFTER_HEADER,
  })
  async introspect(
    @Headers('content-type') contentType: string | undefined,
    @Headers('authorization') authorization: string | undefined,
    @Body() body: unknown,
    @ReqContext() ctx: RequestContext,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const answer = await this.introspection.introspect(contentType, authorization, body, ctx);
    await reply.status(answer.status).headers(answer.headers).send(answer.body);
  }
}
