import { Body, Controller, Get, Param, Patch, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator.js';
import { CurrentPrincipal, type Principal } from '../access/principal.js';
import { ErrorBody } from '../common/error-body.dto.js';
import { ReqContext, type RequestContext } from '../common/request-context.js';
import { BAD_ID_BODY, UUID_ID } from '../common/validation.js';
import { AdminUpdateUserDto, ListUsersQuery, PHONE_MESSAGE, UpdateProfileDto } from './users.dto.js';
import { AdminUserEnvelope, toAdminUserView, toUserView, UserEnvelope, UserPage } from './user.view.js';
import { UsersService } from './users.service.js';

/** A 400 answer naming one field, as the ValidationPipe (or the id pipe) words it. */
function badRequest(field: string, message: string): ErrorBody {
  return { error: `Invalid request: ${message}`, code: 'validation_failed', requestId: 'req-7f3a2c', fields: [{ field, message }] };
}

@ApiTags('users')
@Controller('api/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get('me')
  @Access.session()
  @ApiOperation({ summary: 'The logged-in user' })
  @ApiOkResponse({ type: UserEnvelope })
  async me(@CurrentPrincipal() p: Principal): Promise<UserEnvelope> {
    return { user: toUserView(await this.users.getById(p.userId)) };
  }

  @Patch('me')
  @Access.session()
  @ApiOperation({ summary: 'Update my profile; profileCompletedAt is set the first time it is complete' })
  @ApiOkResponse({ type: UserEnvelope })
  @ApiBadRequestResponse({ type: ErrorBody, example: badRequest('phoneNumber', PHONE_MESSAGE) })
  async updateMe(@CurrentPrincipal() p: Principal, @Body() dto: UpdateProfileDto, @ReqContext() ctx: RequestContext): Promise<UserEnvelope> {
    const { user } = await this.users.updateProfile(p.userId, dto, ctx);
    return { user: toUserView(user) };
  }

  @Get()
  @Access({ roles: ['admin'] })
  @ApiOperation({ summary: 'List users, newest first (admin)' })
  @ApiOkResponse({ type: UserPage })
  @ApiBadRequestResponse({ type: ErrorBody, example: badRequest('limit', 'limit must not be greater than 200') })
  async list(@Query() q: ListUsersQuery): Promise<UserPage> {
    const page = await this.users.list(q.limit ?? 50, q.cursor);
    return { items: page.items.map(toAdminUserView), nextCursor: page.nextCursor };
  }

  @Patch(':id')
  @Access({ roles: ['admin'] })
  @ApiOperation({ summary: "Change a user's role or disable/enable the account (admin); a disabled user's tokens stop validating at once" })
  @ApiOkResponse({ type: AdminUserEnvelope })
  @ApiBadRequestResponse({
    type: ErrorBody,
    examples: {
      body: {
        summary: 'A field of the body is invalid',
        value: badRequest('role', 'role must be one of the following values: user, auditor, admin'),
      },
      id: { summary: 'The id is not a UUID', value: BAD_ID_BODY },
    },
  })
  @ApiNotFoundResponse({ type: ErrorBody, example: { error: 'User not found', code: 'not_found', requestId: 'req-7f3a2c' } })
  async update(
    @CurrentPrincipal() p: Principal,
    @Param('id', UUID_ID) id: string,
    @Body() dto: AdminUpdateUserDto,
    @ReqContext() ctx: RequestContext,
  ): Promise<AdminUserEnvelope> {
    const { user } = await this.users.adminUpdate(p.userId, id, dto, ctx);
    return { user: toAdminUserView(user) };
  }
}
