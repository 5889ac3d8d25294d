export { HospiAIAuth, logFailure } from './auth.js';
export { HospiAIConfigError, ENV_RESOURCE, ENV_TIMEOUT, ENV_VALIDATION_URL, type EnvLike, type ResolvedConfig } from './config.js';
export {
  canonicalResourceUri,
  protectedResource,
  protectedResourceMetadataUrl,
  PRM_WELL_KNOWN,
  type NodeRequestLike,
  type NodeResponseLike,
  type ProtectedResource,
  type ProtectedResourceMetadata,
  type ProtectedResourceOptions,
} from './protected-resource.js';
export { tokenCacheKey, type CacheSnapshot } from './cache.js';
export {
  fastmcpAuthenticate,
  failureResponse,
  requireScopes,
  sessionFromAnswer,
  withScopes,
  type ChallengeOptions,
  type FastmcpAuthenticateOptions,
  type HospiAISession,
  type ToolScopeError,
} from './fastmcp.js';
export { authorizationHeader, bearerToken, type BearerToken, type RequestLike } from './http.js';
export {
  authInfoFromAnswer,
  hospiaiUser,
  mcpSdkBearerAuth,
  mcpSdkVerifier,
  requireToolScopes,
  scopedTool,
  type HospiAIAuthInfo,
  type McpRequestLike,
  type McpSdkBearerAuthOptions,
  type Middleware,
  type ResponseLike,
  type ScopeRefusal,
  type HospiAITokenVerifier,
  type McpSdkVerifierOptions,
  type SdkErrorClasses,
} from './mcp-sdk.js';
export {
  ENV_CLIENT_ID,
  ENV_CLIENT_SECRET,
  ENV_REVOCATIONS_URL,
  type FollowRevocationsOptions,
  type RevocationFeedEvent,
  type RevocationFollower,
} from './revocations.js';
export { HOSPIAI_SCOPES, type HospiAIScope } from './scopes.js';
export { SseParser, type SseMessage } from './sse.js';
export type {
  CacheOptions,
  FailureReason,
  FetchLike,
  HospiAIAuthOptions,
  HospiAITokenInfo,
  HospiAIUser,
  ValidateAnswer,
  ValidateFailure,
  ValidateOptions,
  ValidateResult,
  ValidateSuccess,
} from './types.js';
