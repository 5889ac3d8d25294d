import { webcrypto, type KeyObject } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import type { AppConfig, OidcProviderConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import type { Claims } from './claims.js';

/** The `events` member of a logout token (OpenID Connect Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** A logout token older than this is refused (its `iat`). */
const LOGOUT_TOKEN_MAX_AGE_SECONDS = 300;

/** What a verified logout token names. */
export interface LogoutToken {
  issuer: string;
  sub: string | undefined;
  sid: string | undefined;
  jti: string | undefined;
}

/** The webcrypto key openid-client signs private_key_jwt assertions with (RS256, ES256/384/512 or EdDSA). */
async function cryptoKeyOf(key: KeyObject): Promise<oidc.CryptoKey> {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const algorithm =
    type === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
      : type === 'ec'
        ? { name: 'ECDSA', namedCurve: curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : 'P-256' }
        : { name: 'Ed25519' };
  return webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']) as Promise<oidc.CryptoKey>;
}

/**
 * The relying party's side of each configured provider, with openid-client (certified): discovery
 * once per provider (again after a failure), the authorization URL with PKCE (S256), state and
 * nonce, the code exchange whose ID token the library validates (iss, aud, azp, exp, iat, nonce, and
 * its signature against the provider's JWKS: enableNonRepudiationChecks, without which openid-client
 * trusts TLS for it), UserInfo, the end-session URL; and the logout tokens of
 * back-channel logout, verified with jose against the same JWKS.
 *
 * Plain http is allowed (openid-client's allowInsecureRequests) only for a loopback issuer, which
 * the configuration accepts for tests and a local IdP; every other issuer must be https.
 */
@Injectable()
export class OidcClients {
  private readonly logger = new Logger(OidcClients.name);
  private readonly configs = new Map<string, Promise<oidc.Configuration>>();
  private readonly jwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  /** Logout tokens already used (their jti), until they are too old to be accepted anyway. */
  private readonly seenJti = new Map<string, number>();

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  provider(id: string): OidcProviderConfig | undefined {
    return this.config.sso.providers.find((p) => p.id === id);
  }

  /** The provider's discovered configuration; a failed discovery is tried again on the next call. */
  configuration(p: OidcProviderConfig): Promise<oidc.Configuration> {
    let pending = this.configs.get(p.id);
    if (!pending) {
      pending = this.discover(p);
      this.configs.set(p.id, pending);
      pending.catch((err: unknown) => {
        this.configs.delete(p.id);
        // The message names the issuer, never the client's secret or key.
        this.logger.warn(`OIDC discovery of ${p.issuer} (provider ${p.id}) failed: ${(err as Error).message}`);
      });
    }
    return pending;
  }

  private async discover(p: OidcProviderConfig): Promise<oidc.Configuration> {
    const auth = p.clientPrivateKey
      ? oidc.PrivateKeyJwt(await cryptoKeyOf(p.clientPrivateKey))
      : p.clientSecret !== undefined
        ? oidc.ClientSecretBasic(p.clientSecret)
        : oidc.None();
    return oidc.discovery(new URL(p.issuer), p.clientId, undefined, auth, {
      // ID tokens from the token endpoint have their signature checked against the provider's JWKS too
      // (openid-client otherwise relies on TLS for them, as OIDC Core §3.1.3.7 allows).
      execute: p.loopbackIssuer ? [oidc.enableNonRepudiationChecks, oidc.allowInsecureRequests] : [oidc.enableNonRepudiationChecks],
      timeout: 10,
    });
  }

  async authorizationUrl(
    p: OidcProviderConfig,
    redirectUri: string,
    checks: { state: string; nonce: string; verifier: string },
  ): Promise<URL> {
    const config = await this.configuration(p);
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: p.scopes.join(' '),
      response_type: 'code',
      state: checks.state,
      nonce: checks.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(checks.verifier),
      code_challenge_method: 'S256',
    });
  }

  /**
   * The code exchange: openid-client checks the state, sends the PKCE verifier, and validates the
   * ID token (signature, iss, aud, exp, iat, nonce). Gives the ID token's claims, completed by
   * UserInfo's (whose `sub` the library checks against the ID token's).
   */
  async exchange(
    p: OidcProviderConfig,
    currentUrl: URL,
    redirectUri: string,
    checks: { state: string; nonce: string; verifier: string },
  ): Promise<{ claims: Claims; idTokenClaims: Claims }> {
    const config = await this.configuration(p);
    const tokens = await oidc.authorizationCodeGrant(
      config,
      currentUrl,
      { pkceCodeVerifier: checks.verifier, expectedState: checks.state, expectedNonce: checks.nonce, idTokenExpected: true },
      { redirect_uri: redirectUri },
    );
    const idTokenClaims = tokens.claims() as Claims | undefined;
    if (!idTokenClaims || typeof idTokenClaims.sub !== 'string') throw new Error('no ID token');
    let claims: Claims = { ...idTokenClaims };
    if (config.serverMetadata().userinfo_endpoint && tokens.access_token) {
      const info = (await oidc.fetchUserInfo(config, tokens.access_token, idTokenClaims.sub)) as Claims;
      // The ID token's claims win: they are signed.
      claims = { ...info, ...idTokenClaims };
    }
    return { claims, idTokenClaims };
  }

  /** The provider's end-session URL (RP-Initiated Logout 1.0), or undefined when it has none. */
  async endSessionUrl(p: OidcProviderConfig, postLogoutRedirectUri: string): Promise<string | undefined> {
    const config = await this.configuration(p);
    if (!config.serverMetadata().end_session_endpoint) return undefined;
    return oidc.buildEndSessionUrl(config, { client_id: p.clientId, post_logout_redirect_uri: postLogoutRedirectUri }).href;
  }

  /**
   * Verifies a logout token (Back-Channel Logout 1.0 §2.6) with jose against the provider's JWKS:
   * signature, `iss` (the discovered issuer), `aud` (our client id), `iat` (at most five minutes
   * old), the back-channel logout event, a `sub` or a `sid`, no `nonce`, and a `jti` not seen before.
   * Throws on any failure.
   */
  async verifyLogoutToken(p: OidcProviderConfig, token: string): Promise<LogoutToken> {
    const config = await this.configuration(p);
    const meta = config.serverMetadata();
    if (!meta.jwks_uri) throw new Error('the provider publishes no JWKS');
    let jwks = this.jwks.get(p.id);
    if (!jwks) {
      jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
      this.jwks.set(p.id, jwks);
    }
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: meta.issuer,
      audience: p.clientId,
      requiredClaims: ['iat', 'events'],
      maxTokenAge: LOGOUT_TOKEN_MAX_AGE_SECONDS,
      clockTolerance: 5,
      algorithms: meta.id_token_signing_alg_values_supported?.filter((a) => a !== 'none') ?? ['RS256'],
    });
    if (protectedHeader.typ !== undefined && !['logout+jwt', 'JWT'].includes(protectedHeader.typ)) throw new Error('wrong typ');
    const events = (payload as JWTPayload & { events?: unknown }).events;
    if (!events || typeof events !== 'object' || Array.isArray(events)) throw new Error('no events claim');
    const event = (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT];
    if (!event || typeof event !== 'object' || Array.isArray(event)) throw new Error('not a back-channel logout event');
    if ('nonce' in payload) throw new Error('a logout token has no nonce');
    const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
    const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
    if (!sub && !sid) throw new Error('neither sub nor sid');
    const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
    if (jti !== undefined) {
      const now = Date.now();
      for (const [k, until] of this.seenJti) if (until < now) this.seenJti.delete(k);
      const key = `${p.id}\n${jti}`;
      if (this.seenJti.has(key)) throw new Error('logout token replayed');
      this.seenJti.set(key, now + (LOGOUT_TOKEN_MAX_AGE_SECONDS + 10) * 1000);
    }
    return { issuer: meta.issuer, sub, sid, jti };
  }
}
