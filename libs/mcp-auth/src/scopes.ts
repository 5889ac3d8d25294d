/**
 * The scopes an API token can carry, as the service's catalogue
 * (libs/scopes) lists them. Kept as a copy so that this package stands
 * alone; a unit test checks that the two lists agree.
 */
export const HOSPIAI_SCOPES = ['read:data', 'write:data', 'read:bookings', 'write:bookings', 'read:audit'] as const;

export type HospiAIScope = (typeof HOSPIAI_SCOPES)[number];
