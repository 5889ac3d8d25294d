import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiConflictResponse,
  ApiConsumes,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Access, Public } from '../access/access.decorator.js';
import { CurrentPrincipal, type Principal } from '../access/principal.js';
import { isHttps, parseCookies, SessionCookies } from '../auth/session-cookie.js';
import type { LoginAnswer } from '../auth/auth.dto.js';
import { DATABASE_UNAVAILABLE, ErrorBody, RETRY_AFTER_HEADER } from '../common/error-body.dto.js';
import { ReqContext, type RequestContext } from '../common/request-context.js';
import { BAD_ID_BODY, UUID_ID } from '../common/validation.js';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { toUserView } from '../users/user.view.js';
import { REFUSAL_MESSAGES } from './claims.js';
import type { UserIdentity } from './identities.repository.js';
import { TRANSACTION_COOKIE, TRANSACTION_TTL_SECONDS, transactionCookie } from './login-transaction.js';
import { ssoButtons } from './sso-buttons.js';
import {
  IdentityEnvelope,
  IdentityList,
  IdentityView,
  LinkIdentityDto,
  SsoLoginQuery,
  SsoLogoutAnswer,
  SsoProvidersAnswer,
} from './sso.dto.js';
import {
  INVALID_LOGOUT_TOKEN,
  INVALID_LOGOUT_TOKEN_MESSAGE,
  safeNext,
  SSO_FAILED,
  SSO_REFUSED,
  SsoRefusal,
  SsoService,
} from './sso.service.js';

const UNAVAILABLE = {
  type: ErrorBody,
  description: 'The identity provider or the database cannot be reached: try again after Retry-After',
  example: { error: 'Service indisponible', code: 'service_unavailable', requestId: 'req-7f3a2c', retryAfter: 30 },
  headers: RETRY_AFTER_HEADER,
};
const PROVIDER_NOT_FOUND = {
  type: ErrorBody,
  example: { error: 'Identity provider not found', code: 'not_found', requestId: 'req-7f3a2c' },
};

function toIdentityView(i: UserIdentity): IdentityView {
  return {
    id: i.id,
    provider: i.provider,
    issuer: i.issuer,
    subject: i.subject,
    professionalId: i.professionalId,
    linkedBy: i.linkedBy,
    createdAt: i.createdAt.toISOString(),
    lastLoginAt: i.lastLoginAt ? i.lastLoginAt.toISOString() : null,
  };
}

/** The origin the browser reached this service at (for redirect URIs when OIDC_REDIRECT_BASE_URL is unset). */
function originOf(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

/** Staff single sign-on with OpenID Connect (docs/sso.md). */
@ApiTags('auth')
@Controller()
export class SsoController {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly sso: SsoService,
    private readonly cookies: SessionCookies,
  ) {}

  @Get('api/auth/oidc/providers')
  @Public()
  @ApiOperation({ summary: "The identity providers to log in with (the login page's « Se connecter avec … » buttons)" })
  @ApiOkResponse({
    type: SsoProvidersAnswer,
    example: {
      providers: [{ id: 'chu', name: 'CHU Exemple', label: 'Se connecter avec CHU Exemple', loginUrl: '/api/auth/oidc/chu/login' }],
      ssoOnly: false,
    },
  })
  providers(): SsoProvidersAnswer {
    return { providers: ssoButtons(this.config.sso), ssoOnly: this.config.sso.ssoOnly };
  }

  @Get('api/auth/oidc/:provider/login')
  @Public()
  @ApiOperation({
    summary: 'Start a login at an identity provider: redirects there (authorization code, PKCE S256, state, nonce)',
    description:
      `The state, nonce and PKCE verifier are kept in the \`${TRANSACTION_COOKIE}\` cookie (encrypted and authenticated, HttpOnly, ` +
      `SameSite=Lax, Path=/api/auth/oidc/, ${TRANSACTION_TTL_SECONDS / 60} minutes), which the callback reads once.`,
  })
  @ApiResponse({
    status: 302,
    description: "To the provider's authorization endpoint",
    headers: {
      Location: { description: "The provider's authorization URL", schema: { type: 'string' } },
      'Set-Cookie': {
        description: `\`${TRANSACTION_COOKIE}=<sealed transaction>; Path=/api/auth/oidc/; Max-Age=600; SameSite=Lax; HttpOnly[; Secure]\``,
        schema: { type: 'string' },
      },
    },
  })
  @ApiBadRequestResponse({
    type: ErrorBody,
    example: {
      error: 'Invalid request: mode must be one of the following values: json',
      code: 'validation_failed',
      requestId: 'req-7f3a2c',
      fields: [{ field: 'mode', message: 'mode must be one of the following values: json' }],
    },
  })
  @ApiNotFoundResponse(PROVIDER_NOT_FOUND)
  @ApiServiceUnavailableResponse(UNAVAILABLE)
  async login(
    @Param('provider') providerId: string,
    @Query() q: SsoLoginQuery,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const p = this.sso.provider(providerId);
    const { url, sealed } = await this.sso.start(p, originOf(req), q.mode === 'json' ? 'json' : safeNext(q.next));
    void reply
      .header('Set-Cookie', transactionCookie(sealed, isHttps(req), TRANSACTION_TTL_SECONDS))
      .header('Cache-Control', 'no-store')
      .redirect(url, 302);
  }

  @Get('api/auth/oidc/:provider/callback')
  @Public()
  @ApiOperation({
    summary: "The identity provider's answer: opens the session and lands on the dashboard",
    description:
      'The code is exchanged and the ID token validated by openid-client (signature, iss, aud, exp, nonce; the state and PKCE verifier ' +
      "from the login cookie). The account is the one linked to the ID token's issuer and subject, else one created from the claims " +
      '(an existing account with the same email is taken over only when the provider is trusted for its domain); its role is set from ' +
      "the provider's claim at every login. Then the session cookies are set as by `POST /api/auth/login` and the browser goes to " +
      '`/dashboard/tokens` (or the `next` page of the login). A refused login goes to `/dashboard/login?sso=<reason>`, which shows why ' +
      'in French. Started with `mode=json`, the answer is instead the session as JSON (`200`), or the error (`400 sso_failed`, `403 sso_refused`).',
  })
  @ApiOkResponse({
    description: 'mode=json: the session, as `POST /api/auth/login` answers it',
    schema: { type: 'object' },
    example: {
      accessToken: 'eyJhbGciOiJIUzI1NiIs…',
      tokenType: 'Bearer',
      expiresIn: 3600,
      user: { id: '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6' },
    },
  })
  @ApiResponse({
    status: 302,
    description: 'To the dashboard (logged in), or to the login page with the reason of a refusal',
    headers: {
      Location: { description: '`/dashboard/tokens`, the `next` page, or `/dashboard/login?sso=<reason>`', schema: { type: 'string' } },
      'Set-Cookie': {
        description: 'The session cookies (as `POST /api/auth/login` sets them); the login cookie removed',
        schema: { type: 'string' },
      },
    },
  })
  @ApiBadRequestResponse({
    type: ErrorBody,
    example: { error: REFUSAL_MESSAGES.invalid_response, code: SSO_FAILED, requestId: 'req-7f3a2c' },
  })
  @ApiForbiddenResponse({ type: ErrorBody, example: { error: REFUSAL_MESSAGES.group, code: SSO_REFUSED, requestId: 'req-7f3a2c' } })
  @ApiNotFoundResponse(PROVIDER_NOT_FOUND)
  @ApiServiceUnavailableResponse(UNAVAILABLE)
  async callback(
    @Param('provider') providerId: string,
    @ReqContext() ctx: RequestContext,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const p = this.sso.provider(providerId);
    const secure = isHttps(req);
    const t = this.sso.transactionOf(p, parseCookies(req.headers.cookie)[TRANSACTION_COOKIE]);
    const origin = originOf(req);
    const currentUrl = new URL(this.sso.redirectUri(p, origin));
    const query = req.url.indexOf('?');
    currentUrl.search = query >= 0 ? req.url.slice(query) : '';
    void reply.header('Cache-Control', 'no-store');
    const clearTransaction = transactionCookie('', secure, 0);
    try {
      const login = await this.sso.callback(p, t, currentUrl, origin, ctx);
      const cookies = [...this.cookies.issue(login.accessToken, login.expiresIn, secure), clearTransaction];
      void reply.header('Set-Cookie', cookies);
      if (t?.next === 'json') {
        const body: LoginAnswer = {
          accessToken: login.accessToken,
          tokenType: 'Bearer',
          expiresIn: login.expiresIn,
          user: toUserView(login.user),
        };
        void reply.status(200).send(body);
        return;
      }
      void reply.redirect(safeNext(t?.next), 302);
    } catch (err) {
      void reply.header('Set-Cookie', clearTransaction);
      // The dashboard's login shows the reason in French; the API flow (and the other errors) get the JSON error.
      if (err instanceof SsoRefusal && t?.next !== 'json') {
        void reply.redirect(`/dashboard/login?sso=${encodeURIComponent(err.reason)}`, 302);
        return;
      }
      throw err;
    }
  }

  @Post('api/auth/oidc/:provider/logout')
  @Access.session()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Log out here and at the identity provider (RP-initiated logout)',
    description:
      "Clears the session cookies as `POST /api/auth/logout` does, and gives the provider's end-session URL, where the browser goes " +
      "next; the provider then ends its own session, tells every application of it by back-channel logout (ending this account's " +
      'sessions here too), and sends the browser back to `/dashboard/login?raison=logout`.',
  })
  @ApiOkResponse({ type: SsoLogoutAnswer })
  @ApiNotFoundResponse(PROVIDER_NOT_FOUND)
  @ApiServiceUnavailableResponse(UNAVAILABLE)
  async logout(
    @Param('provider') providerId: string,
    @CurrentPrincipal() principal: Principal,
    @ReqContext() ctx: RequestContext,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SsoLogoutAnswer> {
    const p = this.sso.provider(providerId);
    const url = await this.sso.endSessionUrl(p, originOf(req), principal.userId, ctx);
    this.cookies.setOn(reply, this.cookies.clear(isHttps(req)));
    return { endSessionUrl: url ?? null };
  }

  @Post('api/auth/oidc/:provider/backchannel-logout')
  @Public()
  @HttpCode(200)
  @ApiOperation({
    summary: "Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the provider ends a person's sessions",
    description:
      'Called by the identity provider, not by people: a form body with `logout_token`, a JWT the provider signed. It is verified ' +
      "against the provider's JWKS (signature, iss, aud = our client id, iat within five minutes, the back-channel logout event, " +
      "sub or sid, no nonce, a jti not seen before); every session of the accounts it names (by subject, or by the provider's " +
      'session id of their last login) then ends. Their API tokens are not touched. Audited as `auth.logout`.',
  })
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiBody({ schema: { type: 'object', properties: { logout_token: { type: 'string' } }, required: ['logout_token'] } })
  @ApiOkResponse({ description: 'The sessions named are ended (no body)' })
  @ApiBadRequestResponse({
    type: ErrorBody,
    example: { error: INVALID_LOGOUT_TOKEN_MESSAGE, code: INVALID_LOGOUT_TOKEN, requestId: 'req-7f3a2c' },
  })
  @ApiNotFoundResponse(PROVIDER_NOT_FOUND)
  @ApiServiceUnavailableResponse(UNAVAILABLE)
  async backchannelLogout(
    @Param('provider') providerId: string,
    @Body() body: Record<string, unknown> | undefined,
    @ReqContext() ctx: RequestContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    const p = this.sso.provider(providerId);
    void reply.header('Cache-Control', 'no-store');
    await this.sso.backchannelLogout(p, body && typeof body === 'object' ? body.logout_token : undefined, ctx);
  }

  @Get('api/users/:id/identities')
  @Access({ roles: ['auditor', 'admin'] })
  @ApiTags('users')
  @ApiOperation({
    summary: 'The identity-provider identities of an account, with its professional identifier (RPPS) (auditors and admins)',
  })
  @ApiOkResponse({ type: IdentityList })
  @ApiBadRequestResponse({ type: ErrorBody, example: BAD_ID_BODY })
  @ApiServiceUnavailableResponse(DATABASE_UNAVAILABLE)
  async identities(@Param('id', UUID_ID) id: string): Promise<IdentityList> {
    return { items: (await this.sso.identitiesOf(id)).map(toIdentityView) };
  }

  @Post('api/users/:id/identities')
  @Access({ roles: ['admin'] })
  @ApiTags('users')
  @ApiOperation({
    summary: 'Link an existing account to an identity at a provider (admin)',
    description: "The person's next login at that provider with this subject opens this account (an email claim alone never does).",
  })
  @ApiCreatedResponse({ type: IdentityEnvelope })
  @ApiBadRequestResponse({
    type: ErrorBody,
    examples: {
      body: {
        summary: 'A field of the body is invalid',
        value: {
          error: 'Invalid request: subject must be longer than or equal to 1 characters',
          code: 'validation_failed',
          requestId: 'req-7f3a2c',
          fields: [{ field: 'subject', message: 'subject must be longer than or equal to 1 characters' }],
        },
      },
      id: { summary: 'The id is not a UUID', value: BAD_ID_BODY },
    },
  })
  @ApiNotFoundResponse({ type: ErrorBody, example: { error: 'User not found', code: 'not_found', requestId: 'req-7f3a2c' } })
  @ApiConflictResponse({
    type: ErrorBody,
    example: { error: 'This identity is already linked to an account', code: 'identity_taken', requestId: 'req-7f3a2c' },
  })
  @ApiServiceUnavailableResponse(UNAVAILABLE)
  async link(
    @CurrentPrincipal() principal: Principal,
    @Param('id', UUID_ID) id: string,
    @Body() dto: LinkIdentityDto,
    @ReqContext() ctx: RequestContext,
  ): Promise<IdentityEnvelope> {
    const p = this.sso.provider(dto.provider);
    return { identity: toIdentityView(await this.sso.link(principal.userId, id, p, dto.subject, ctx)) };
  }
}
