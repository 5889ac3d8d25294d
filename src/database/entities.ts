import { ApiToken } from '../tokens/api-token.entity.js';
import { User } from '../users/user.entity.js';

/** Every entity of the service, for the DataSource. */
export const ENTITIES = [User, ApiToken];
