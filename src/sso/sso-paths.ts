/** The back-channel logout route (OpenID Connect Back-Channel Logout 1.0): it takes the provider's form body (`logout_token`). */
export const BACKCHANNEL_LOGOUT_PATH = '/api/auth/oidc/:provider/backchannel-logout';
