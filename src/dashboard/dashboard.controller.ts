import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../access/access.decorator.js';
import { DashboardAssets, pickEncoding, type Asset } from './dashboard-assets.js';

/**
 * The dashboard's security headers. No inline script or style anywhere: the
 * pages load one stylesheet and ES modules from /dashboard/assets/.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': DASHBOARD_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/**
 * The token dashboard (French), served by the service itself: three static
 * pages and their assets, public (the pages hold no data; they call the API
 * with the session cookie). Every answer is revalidated by ETag.
 */
@ApiExcludeController()
@Controller('dashboard')
@Public()
export class DashboardController {
  constructor(private readonly assets: DashboardAssets) {}

  @Get()
  root(@Res() reply: FastifyReply): void {
    void reply.headers(SECURITY_HEADERS).redirect('/dashboard/tokens', 302);
  }

  @Get('login')
  login(@Req() req: FastifyRequest, @Res() reply: FastifyReply): void {
    this.send(req, reply, 'login.html');
  }

  @Get('tokens')
  tokens(@Req() req: FastifyRequest, @Res() reply: FastifyReply): void {
    this.send(req, reply, 'tokens.html');
  }

  @Get('applications')
  applications(@Req() req: FastifyRequest, @Res() reply: FastifyReply): void {
    this.send(req, reply, 'applications.html');
  }

  @Get('audit')
  audit(@Req() req: FastifyRequest, @Res() reply: FastifyReply): void {
    this.send(req, reply, 'audit.html');
  }

  @Get('policies')
  policies(@Req() req: FastifyRequest, @Res() reply: FastifyReply): void {
    this.send(req, reply, 'policies.html');
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply): void {
    this.send(req, reply, file.endsWith('.html') ? '' : file);
  }

  private send(req: FastifyRequest, reply: FastifyReply, name: string): void {
    void reply.headers(SECURITY_HEADERS);
    const asset: Asset | undefined = this.assets.get(name);
    if (!asset) {
      void reply.status(404).type('text/plain; charset=utf-8').header('Cache-Control', 'no-store').send('Page introuvable.');
      return;
    }
    const encoding = pickEncoding(req.headers['accept-encoding']);
    const etag = encoding === 'identity' ? asset.etag : `${asset.etag.slice(0, -1)}-${encoding}"`;
    void reply.header('Cache-Control', 'no-cache').header('ETag', etag).header('Vary', 'Accept-Encoding');
    const ifNoneMatch = req.headers['if-none-match'];
    if (typeof ifNoneMatch === 'string' && ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
      void reply.status(304).send();
      return;
    }
    if (encoding !== 'identity') void reply.header('Content-Encoding', encoding);
    void reply.type(asset.contentType).send(encoding === 'br' ? asset.br : encoding === 'gzip' ? asset.gzip : asset.identity);
  }
}
