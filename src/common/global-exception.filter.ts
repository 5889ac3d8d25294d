import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isValidateRoute, McpValidationService, NOT_JSON } from '../mcp-validation/mcp-validation.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { describeError } from './error-body.js';
import { requestContextOf } from './request-context.js';

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

  constructor(
    private readonly validation: McpValidationService,
    private readonly metrics: MetricsService,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    if (!reply.sent && isBodyRefusal(exception) && isValidateRoute(request)) {
      void this.refusedValidation(exception, request, reply);
      return;
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
   * Every call of the validate route has its audit event and one of the route's answers (API.md §4),
   * a body refused before the route ran too: it is answered as any body that is not
   * `{"requiredScopes": [...]}` is, through the validation service.
   */
  private async refusedValidation(exception: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    try {
      const answer = await this.validation.validate(request.headers.authorization, NOT_JSON, requestContextOf(request));
      this.metrics.validationAnswered(answer.outcome);
      if (!reply.sent) await reply.status(answer.status).headers(answer.headers).send(answer.body);
    } catch (err) {
      this.logger.error({ err, reqId: request.id }, 'refused validation body not answered by the validation service');
      this.send(exception, request, reply);
    }
  }
}
