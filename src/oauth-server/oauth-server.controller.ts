import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { ApiConsumes, ApiExcludeEndpoint, ApiOkResponse, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../access/access.decorator.js';
import { OAuthProviderService } from './oauth-provider.service.js';
import { toProvider } from './provider-bridge.js';

/** An OAuth error answer (`error`, `error_description`), as RFC 6749 §5.2 shapes it. */
function oauthError(description: string, error: string, errorDescription: string) {
  return { description, content: { 'application/json': { example: { error, error_description: errorDescription } } } };
}

/**
 * The authorization server's protocol endpoints (docs/mcp-oauth.md). Each hands the request to
 * oidc-provider (src/oauth-server/oauth-provider.service.ts), which answers it.
 */
@ApiTags('oauth-server')
@Controller()
export class OAuthServerController {
  constructor(private readonly oauth: OAuthProviderService) {}

  @Get('.well-known/oauth-authorization-server')
  @Public()
  @ApiOperation({
    summary: 'Authorization server metadata (RFC 8414)',
    description:
      'Endpoints, `code_challenge_methods_supported: ["S256"]`, `scopes_supported` (the scope catalogue), grant types, client authentication ' +
      'methods, `client_id_metadata_document_supported`, `authorization_response_iss_parameter_supported`, and the introspection ' +
      '(`POST /api/oauth/introspect`) and revocation endpoints.',
  })
  @ApiOkResponse({ description: 'The metadata document' })
  async metadata(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await toProvider(this.oauth, req, reply, '/.well-known/openid-configuration');
  }

  /** The same document under OpenID Connect's name (oidc-provider's own route), for clients that look there. */
  @Get('.well-known/openid-configuration')
  @Public()
  @ApiExcludeEndpoint()
  async openidConfiguration(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await toProvider(this.oauth, req, reply);
  }

  @Get('oauth/authorize')
  @Public()
  @ApiOperation({
    summary: 'Authorization endpoint (OAuth 2.1 authorization code with PKCE)',
    description:
      '`response_type=code`, `client_id` (registered, or the https URL of a Client ID Metadata Document), `redirect_uri`, ' +
      '`code_challenge` with `code_challenge_method=S256` (required), `resource` (required: the canonical URI of a registered MCP server), ' +
      '`scope`, `state`. Redirects to the login and consent pages, then to the client with `code`, `state` and `iss` (RFC 9207), ' +
      'or with `error` (`access_denied` when the person refuses).',
  })
  @ApiResponse({ status: 303, description: 'To the login or consent page, or back to the client' })
  @ApiResponse({ status: 400, description: 'No redirect is possible (unknown client, unregistered redirect URI): an error page' })
  async authorize(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await toProvider(this.oauth, req, reply);
  }

  /** Where the provider resumes an authorization after its login and consent pages. */
  @Get('oauth/authorize/:uid')
  @Public()
  @ApiExcludeEndpoint()
  async resume(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await toProvider(this.oauth, req, reply);
  }

  @Post('oauth/token')
  @Public()
  @ApiOperation({
    summary: 'Token endpoint: authorization_code and refresh_token grants',
    description:
      'Form body. Answers a HospiAI API token as `access_token` (bound to the resource: `aud`; 1 h by default, OAUTH_ACCESS_TOKEN_TTL_SECONDS) ' +
      'and a `refresh_token` (rotated on every use; 30 days by default, OAUTH_REFRESH_TOKEN_TTL_SECONDS). A refresh token used twice revokes ' +
      'its whole grant and its access tokens (audited as `oauth.refresh_replay`).',
  })
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiOkResponse({
    description: 'The tokens',
    content: {
      'application/json': {
        example: { access_token: 'eyJhbGciOiJIUzI1NiIs…', token_type: 'Bearer', expires_in: 3600, refresh_token: 'K3…', scope: 'read:data' },
      },
    },
  })
  @ApiResponse({ status: 400, ...oauthError('A code or refresh token that is invalid, used, expired or revoked; a wrong PKCE verifier', 'invalid_grant', 'grant request is invalid') })
  @ApiResponse({ status: 401, ...oauthError('An unknown client', 'invalid_client', 'client authentication failed') })
  async token(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await toProvider(this.oauth, req, reply);
  }

  @Post('oauth/register')
  @Public()
  @ApiOperation({
    summary: 'Dynamic client registration (RFC 7591)',
    description:
      'JSON client metadata (`client_name`, `redirect_uris`: https, or loopback http on any port). Open, behind an initial access token ' +
      '(`Authorization: Bearer`, OAUTH_DCR=token), or off (OAUTH_DCR=off: 404).',
  })
  @ApiResponse({ status: 201, description: 'The client as registered, with its `client_id`' })
  @ApiResponse({
    status: 400,
    ...oauthError(
      'Redirect URIs other than https or loopback http, or other invalid metadata (`invalid_client_metadata`)',
      'invalid_redirect_uri',
      'redirect_uris must be https URLs or loopback http URLs (RFC 8252)',
    ),
  })
  @ApiResponse({ status: 401, ...oauthError('OAUTH_DCR=token and no or a wrong initial access token', 'invalid_token', 'invalid token provided') })
  @ApiResponse({ status: 404, description: 'Dynamic registration is off' })
  async register(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await toProvider(this.oauth, req, reply);
  }

  @Post('oauth/revoke')
  @Public()
  @ApiOperation({
    summary: 'Token revocation (RFC 7009)',
    description: 'Form body with `token` (a refresh token, or an access token issued to the client) and `client_id`. Always 200 for a known client.',
  })
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiOkResponse({ description: 'Revoked, or nothing to revoke' })
  @ApiResponse({ status: 400, ...oauthError('No token', 'invalid_request', "missing required parameter 'token'") })
  @ApiResponse({ status: 401, ...oauthError('An unknown client', 'invalid_client', 'client authentication failed') })
  async revoke(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await toProvider(this.oauth, req, reply);
  }

  @Get('oauth/jwks')
  @Public()
  @ApiOperation({ summary: "The authorization server's public keys (JWKS)" })
  @ApiProduces('application/jwk-set+json')
  @ApiOkResponse({ description: 'The key set' })
  async jwks(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await toProvider(this.oauth, req, reply);
  }
}
