import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { API_TOKEN_SCHEME, SESSION_SCHEME } from './auth/access.decorator.js';
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
  return SwaggerModule.createDocument(app, config, { operationIdFactory: (controllerKey, methodKey) => `${controllerKey.replace(/Controller$/, '')}_${methodKey}` });
}

export async function setupSwagger(app: NestFastifyApplication): Promise<void> {
  const document = await buildOpenApi(app);
  SwaggerModule.setup('api/docs', app, document, {
    jsonDocumentUrl: 'api/docs-json',
    yamlDocumentUrl: 'api/docs-yaml',
    customSiteTitle: 'HospiAI API',
  });
}
