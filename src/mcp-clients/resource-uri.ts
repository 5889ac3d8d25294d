// Canonical resource URIs live in src/common/ so that tokens, validation and the authorization
// server use the same function without importing one another; re-exported here, beside the servers they name.
export { canonicalResource, MAX_RESOURCE_URI_LENGTH } from '../common/resource-uri.js';
