import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { API_TOKEN_SCHEME, describeForbidden, SESSION_SCHEME, type ForbiddenExamples } from './access/access.decorator.js';
import { MCP_CLIENT_SCHEME } from './mcp-clients/client-credentials.js';

let metadataLoaded = false;

/** Builds the OpenAPI document from the routes, the DTOs (plugin metadata) and the access decorators. */
export async function buildOpenApi(app: NestFastifyApplication): Promise<OpenAPIObject> {
  if (!metadataLoaded) {
    await SwaggerModule.loadPluginMetadata(async () => (await import('./metadata.js')).default());
    metadataLoaded = true;
  }
  const config = new DocumentBuilder()
    .setTitle('HospiAI token service')
    .setDescription(
      [
        'Scoped API tokens for hospital staff, validated by MCP servers on every request.',
        '',
        '- **Sessions** (`session`): log in with `POST /api/auth/login`, send the `accessToken` as `Authorization: Bearer …`.',
        '- **API tokens** (`apiToken`): created with `POST /api/tokens`, shown once; MCP servers check them with `POST /api/mcp/validate`.',
        '- **MCP clients** (`mcpClient`): MCP servers registered by an admin (`POST /api/mcp/clients`) authenticate with their client id and secret',
        '  (HTTP Basic) to introspect tokens (`POST /api/oauth/introspect`, RFC 7662) and to follow revocations (`GET /api/mcp/revocations`).',
        '- **Dashboard** (`/dashboard`): the login also sets the session as an HttpOnly cookie; with it, `POST`/`PUT`/`PATCH`/`DELETE` need `X-CSRF-Token` (the `hospiai_csrf` cookie), else `403 csrf_failed`.',
        '',
        'Every error answer has the shape `{error, code, requestId}` (validation errors add `fields`); the request id is also in the `X-Request-Id` header.',
        'The OAuth endpoint `POST /api/oauth/introspect` answers errors as OAuth does (RFC 6749 §5.2): `{error, error_description}`.',
        'Each route lists who may call it in `x-access`.',
      ].join('\n'),
    )
    .setVersion('1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Session JWT from POST /api/auth/login' }, SESSION_SCHEME)
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'API token from POST /api/tokens' }, API_TOKEN_SCHEME)
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Client id and secret of an MCP server, from POST /api/mcp/clients' }, MCP_CLIENT_SCHEME)
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) => `${controllerKey.replace(/Controller$/, '')}_${methodKey}`,
  });
  return withoutCsrfOnReads(document);
}

/**
 * A GET or HEAD is never refused for its CSRF token (only POST, PUT, PATCH and DELETE are
 * checked), while `@Access` on a controller documents `csrf_failed` for each of its routes: a
 * read keeps its other 403 answers, or lists none. The document's objects may be shared between
 * operations, so they are replaced, not changed.
 */
function withoutCsrfOnReads(document: OpenAPIObject): OpenAPIObject {
  for (const item of Object.values(document.paths)) {
    for (const method of ['get', 'head'] as const) {
      const op = item[method];
      const forbidden = op?.responses['403'] as
        { description: string; content?: Record<string, { examples?: ForbiddenExamples }> } | undefined;
      const json = forbidden?.content?.['application/json'];
      if (!op || !forbidden || !json?.examples?.csrf_failed) continue;
      const { csrf_failed: _csrf, ...others } = json.examples;
      const { '403': _forbidden, ...responses } = op.responses;
      op.responses =
        Object.keys(others).length === 0
          ? responses
          : {
              ...responses,
              '403': {
                ...forbidden,
                description: describeForbidden(others),
                content: { ...forbidden.content, 'application/json': { ...json, examples: others } },
              },
            };
    }
  }
  return document;
}

export async function setupSwagger(app: NestFastifyApplication): Promise<void> {
  const document = await buildOpenApi(app);
  SwaggerModule.setup('api/docs', app, document, {
    jsonDocumentUrl: 'api/docs-json',
    yamlDocumentUrl: 'api/docs-yaml',
    customSiteTitle: 'HospiAI API',
  });
}
