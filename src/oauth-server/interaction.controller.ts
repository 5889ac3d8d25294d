import { Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../access/access.decorator.js';
import { parseCookies, SESSION_COOKIE } from '../auth/session-cookie.js';
import { requestContextOf } from '../common/request-context.js';
import { InteractionService } from './interaction.service.js';

/**
 * The login and consent pages of an authorization (server-rendered, French, no script: forms that
 * post here). Not part of the API: the authorization endpoint sends people here.
 */
@ApiExcludeController()
@Controller('oauth/interaction')
export class InteractionController {
  constructor(private readonly interactions: InteractionService) {}

  @Get(':uid')
  @Public()
  async show(@Param('uid') uid: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const session = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    await this.interactions.show(uid, req, reply, session, requestContextOf(req));
  }

  @Post(':uid/login')
  @Public()
  async login(@Param('uid') uid: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const email = typeof body.email === 'string' ? body.email : '';
    const password = typeof body.password === 'string' ? body.password : '';
    await this.interactions.login(uid, req, reply, email, password, requestContextOf(req));
  }

  @Post(':uid/consent')
  @Public()
  async consent(@Param('uid') uid: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const body = (req.body ?? {}) as Record<string, unknown>;
    await this.interactions.consent(uid, req, reply, body.decision === 'allow', requestContextOf(req));
  }

  @Post(':uid/abort')
  @Public()
  async abort(@Param('uid') uid: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.interactions.deny(uid, req, reply, requestContextOf(req));
  }
}
