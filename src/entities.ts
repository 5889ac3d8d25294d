import { ApiToken } from './tokens/api-token.entity.js';
import { User } from './users/user.entity.js';

/**
 * Every entity of the service, for the application's DataSource and the TypeORM CLI's. Kept here,
 * beside the entry points, so that src/database (which every feature imports) imports no feature.
 */
export const ENTITIES = [User, ApiToken];
