import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * How a route that answers every request body itself does so. Without one, a JSON body that does
 * not parse is answered 400, a body Fastify refuses before the route runs (too large, of a type
 * with no parser) 400, 413 or 415, in the API's error shape, and a JSON string holding a NUL
 * character is refused (PostgreSQL text cannot hold one). A route with one is handed those bodies,
 * or answers them itself, and so can audit them like any other call.
 *
 * A route states it in its Fastify route config (`config.ownBodyAnswer`): the JSON parser
 * (src/app.ts) and the global exception filter read it there, from the route Fastify matched.
 */
export interface OwnBodyAnswer {
  /** Handed to the route in place of a JSON body that does not parse. */
  readonly notJson: unknown;
  /** Answers a request whose body Fastify refused before the route ran; throws when it cannot. */
  readonly refused: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    ownBodyAnswer?: OwnBodyAnswer;
  }
}

/** The own answer to bodies of the route a request was routed to, if it has one. */
export function ownBodyAnswerOf(req: Pick<FastifyRequest, 'routeOptions'>): OwnBodyAnswer | undefined {
  return req.routeOptions?.config?.ownBodyAnswer;
}
