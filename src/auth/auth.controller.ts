import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiServiceUnavailableResponse,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DATABASE_UNAVAILABLE, ErrorBody, RETRY_AFTER_HEADER } from '../common/error-body.dto.js';
import { ReqContext, type RequestContext } from '../common/request-context.js';
import { RateLimit } from '../rate-limit/rate-limit.decorator.js';
import { toUserView, UserEnvelope } from '../users/user.view.js';
import { Access, Public } from '../access/access.decorator.js';
import { LoginAnswer, LoginDto, RegisterDto } from './auth.dto.js';
import { AuthService, INVALID_CREDENTIALS, SSO_ONLY_MESSAGE } from './auth.service.js';
import { CSRF_COOKIE, isHttps, SESSION_COOKIE, SessionCookies } from './session-cookie.js';

const USER_EXAMPLE = {
  id: '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6',
  email: 'marie.curie@chu-exemple.fr',
  firstname: 'Marie',
  surname: 'Curie',
  name: 'Marie Curie',
  phoneNumber: '+33 1 23 45 67 89',
  profileCompletedAt: '2026-11-26T08:30:00.000Z',
  role: 'user',
  createdAt: '2026-11-26T08:30:00.000Z',
};

@ApiTags('auth')
@Controller('api/auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly cookies: SessionCookies,
  ) {}

  @Post('register')
  @Public()
  @RateLimit('register-ip')
  @ApiTooManyRequestsResponse({
    type: ErrorBody,
    description: 'Too many registrations from this address (RATE_LIMIT_REGISTER_PER_MINUTE); with Retry-After',
    example: { error: 'Too many requests: try again later', code: 'too_many_requests', requestId: 'req-7f3a2c', retryAfter: 42 },
    headers: RETRY_AFTER_HEADER,
  })
  @ApiOperation({ summary: 'Create an account (when ALLOW_REGISTRATION is true)' })
  @ApiCreatedResponse({ type: UserEnvelope, example: { user: USER_EXAMPLE } })
  @ApiBadRequestResponse({
    type: ErrorBody,
    example: {
      error: 'Invalid request: password must be longer than or equal to 12 characters',
      code: 'validation_failed',
      requestId: 'req-7f3a2c',
      fields: [{ field: 'password', message: 'password must be longer than or equal to 12 characters' }],
    },
  })
  @ApiConflictResponse({ type: ErrorBody, example: { error: 'An account with this email already exists', code: 'email_taken', requestId: 'req-7f3a2c' } })
  @ApiForbiddenResponse({ type: ErrorBody, example: { error: 'Registration is closed: ask an administrator for an account', code: 'registration_closed', requestId: 'req-7f3a2c' } })
  @ApiServiceUnavailableResponse(DATABASE_UNAVAILABLE)
  async register(@Body() dto: RegisterDto, @ReqContext() ctx: RequestContext): Promise<UserEnvelope> {
    const user = await this.auth.register(dto, ctx);
    return { user: toUserView(user) };
  }

  @Post('login')
  @Public()
  @ApiServiceUnavailableResponse(DATABASE_UNAVAILABLE)
  @RateLimit('login-ip')
  @ApiTooManyRequestsResponse({
    type: ErrorBody,
    description:
      'Too many attempts from this address (RATE_LIMIT_LOGIN_PER_MINUTE), this account locked out for this address after repeated ' +
      'failures (LOGIN_LOCKOUT_*), or the account\'s budget of checks spent (RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE) while this address ' +
      'has failed on it; an address that has not failed on the account waits its turn instead. With Retry-After',
    example: { error: 'Too many failed logins: try again later', code: 'too_many_requests', requestId: 'req-7f3a2c', retryAfter: 30 },
    headers: RETRY_AFTER_HEADER,
  })
  @HttpCode(200)
  @ApiOperation({
    summary: 'Log in and get a session (about one hour)',
    description:
      'API clients send the `accessToken` as `Authorization: Bearer …`. For the browser dashboard, the same session is also set as ' +
      `two cookies: \`${SESSION_COOKIE}\` (the session JWT; HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS, Max-Age = session lifetime) ` +
      `and \`${CSRF_COOKIE}\` (readable; SameSite=Strict). A request authenticated by the cookie (no Authorization header) with POST, PUT, ` +
      `PATCH or DELETE must send the \`${CSRF_COOKIE}\` value in the \`X-CSRF-Token\` header, or it is refused with 403 \`csrf_failed\`. ` +
      'Requests with an Authorization header ignore the cookies.',
  })
  @ApiOkResponse({
    type: LoginAnswer,
    example: { accessToken: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl', tokenType: 'Bearer', expiresIn: 3600, user: USER_EXAMPLE },
    headers: {
      'Set-Cookie': {
        description:
          `\`${SESSION_COOKIE}=<session JWT>; Path=/; Max-Age=3600; SameSite=Strict; HttpOnly[; Secure]\` and ` +
          `\`${CSRF_COOKIE}=<CSRF token>; Path=/; Max-Age=3600; SameSite=Strict[; Secure]\``,
        schema: { type: 'string' },
      },
    },
  })
  @ApiUnauthorizedResponse({ type: ErrorBody, example: { error: INVALID_CREDENTIALS, code: 'invalid_credentials', requestId: 'req-7f3a2c' } })
  @ApiForbiddenResponse({
    type: ErrorBody,
    description: 'SSO_ONLY is on: password logins are refused, except for the break-glass admin (ADMIN_EMAIL)',
    example: { error: SSO_ONLY_MESSAGE, code: 'sso_only', requestId: 'req-7f3a2c' },
  })
  @ApiBadRequestResponse({
    type: ErrorBody,
    description: 'Missing or malformed fields',
    example: {
      error: 'Invalid request: password must be shorter than or equal to 256 characters; password must be a string',
      code: 'validation_failed',
      requestId: 'req-7f3a2c',
      fields: [{ field: 'password', message: 'password must be shorter than or equal to 256 characters; password must be a string' }],
    },
  })
  async login(
    @Body() dto: LoginDto,
    @ReqContext() ctx: RequestContext,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<LoginAnswer> {
    const result = await this.auth.login(dto.email, dto.password, ctx);
    this.cookies.setOn(reply, this.cookies.issue(result.accessToken, result.expiresIn, isHttps(req)));
    return { accessToken: result.accessToken, tokenType: 'Bearer', expiresIn: result.expiresIn, user: toUserView(result.user) };
  }

  @Post('logout')
  @Access.session()
  @HttpCode(204)
  @ApiOperation({
    summary: 'Log out of the dashboard: clears the session and CSRF cookies',
    description:
      'Answers with `Set-Cookie` headers that remove both cookies. With the cookie session, the `X-CSRF-Token` header is required ' +
      '(403 `csrf_failed` otherwise). The session JWT is not revoked on the server: it expires at its `exp` (about one hour); ' +
      'an API client that holds it as a bearer simply forgets it.',
  })
  @ApiNoContentResponse({
    description: 'Logged out',
    headers: {
      'Set-Cookie': {
        description: `\`${SESSION_COOKIE}=; Path=/; Max-Age=0; …\` and \`${CSRF_COOKIE}=; Path=/; Max-Age=0; …\``,
        schema: { type: 'string' },
      },
    },
  })
  logout(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): void {
    this.cookies.setOn(reply, this.cookies.clear(isHttps(req)));
  }
}
