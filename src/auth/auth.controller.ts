import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ErrorBody } from '../common/error-body.dto.js';
import { ReqContext, type RequestContext } from '../common/request-context.js';
import { toUserView, UserEnvelope } from '../users/user.view.js';
import { RateLimit } from '../rate-limit/rate-limit.decorator.js';
import { Public } from './access.decorator.js';
import { LoginAnswer, LoginDto, RegisterDto } from './auth.dto.js';
import { AuthService, INVALID_CREDENTIALS } from './auth.service.js';

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
  constructor(private readonly auth: AuthService) {}

  @Post('register')
  @Public()
  @RateLimit('register-ip')
  @ApiTooManyRequestsResponse({
    type: ErrorBody,
    description: 'Too many registrations from this address (RATE_LIMIT_REGISTER_PER_MINUTE); with Retry-After',
    example: { error: 'Too many requests: try again later', code: 'too_many_requests', requestId: 'req-7f3a2c', retryAfter: 42 },
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
  async register(@Body() dto: RegisterDto, @ReqContext() ctx: RequestContext): Promise<UserEnvelope> {
    const user = await this.auth.register(dto, ctx);
    return { user: toUserView(user) };
  }

  @Post('login')
  @Public()
  @RateLimit('login-ip', 'login-account')
  @ApiTooManyRequestsResponse({
    type: ErrorBody,
    description:
      'Too many attempts from this address or for this account (RATE_LIMIT_LOGIN_PER_MINUTE, RATE_LIMIT_LOGIN_ACCOUNT_PER_MINUTE), ' +
      'or this account is locked out for this address after repeated failures (LOGIN_LOCKOUT_*); with Retry-After',
    example: { error: 'Too many failed logins: try again later', code: 'too_many_requests', requestId: 'req-7f3a2c', retryAfter: 30 },
  })
  @HttpCode(200)
  @ApiOperation({ summary: 'Log in and get a session (about one hour)' })
  @ApiOkResponse({
    type: LoginAnswer,
    example: { accessToken: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl', tokenType: 'Bearer', expiresIn: 3600, user: USER_EXAMPLE },
  })
  @ApiUnauthorizedResponse({ type: ErrorBody, example: { error: INVALID_CREDENTIALS, code: 'invalid_credentials', requestId: 'req-7f3a2c' } })
  @ApiBadRequestResponse({ type: ErrorBody, description: 'Missing or malformed fields' })
  async login(@Body() dto: LoginDto, @ReqContext() ctx: RequestContext): Promise<LoginAnswer> {
    const result = await this.auth.login(dto.email, dto.password, ctx);
    return { accessToken: result.accessToken, tokenType: 'Bearer', expiresIn: result.expiresIn, user: toUserView(result.user) };
  }
}
