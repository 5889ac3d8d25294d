export { HospiAIAuth } from './auth.js';
export { HospiAIConfigError, ENV_TIMEOUT, ENV_VALIDATION_URL, type EnvLike, type ResolvedConfig } from './config.js';
export { tokenCacheKey, type CacheSnapshot } from './cache.js';
export { HOSPIAI_SCOPES, type HospiAIScope } from './scopes.js';
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
