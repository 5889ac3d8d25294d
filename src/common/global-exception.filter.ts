import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { describeError } from './error-body.js';
import { ownBodyAnswerOf, type OwnBodyAnswer } from './own-body-answer.js';

/**
 * A body Fastify refused before the route ran: too large, of a type with no parser, unreadable
 * (Nest hands it over as an HttpException caused by Fastify's error).
 */
function isBodyRefusal(exception: unknown): boolean {
  const e = exception as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' && code.startsWith('FST_ERR_CTP_');
}

/** Maps every error to the API's error shape and adds the request id. */
@Catch()
export class GlobalExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    if (!reply.sent && isBodyRefusal(exception)) {
      const own = ownBodyAnswerOf(request);
      if (own) {
        void this.refusedBody(own, exception, request, reply);
        return;
      }
    }
    this.send(exception, request, reply);
  }

  private send(exception: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const answer = describeError(exception, request.id);
    if (answer.unexpected) {
      this.logger.error({ err: exception, reqId: request.id, route: request.routeOptions?.url }, 'request failed');
    }
    if (reply.sent) return;
    void reply.status(answer.status).headers(answer.headers).send(answer.body);
  }

  /**
   * A route that answers every body itself (the validate route: each of its calls has its audit
   * event and one of its answers, docs/api.md, "Validation") answers a body refused before it ran too.
   */
  private async refusedBody(own: OwnBodyAnswer, exception: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    try {
      await own.refused(request, reply);
    } catch (err) {
      this.logger.error({ err, reqId: request.id, route: request.routeOptions?.url }, 'refused body not answered by its route');
      this.send(exception, request, reply);
    }
  }
}
