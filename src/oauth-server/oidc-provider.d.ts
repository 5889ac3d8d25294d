// The parts of oidc-provider (which ships no type declarations) this service and its tests use.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface ClientLike {
    clientId: string;
    clientName?: string;
    redirectUris?: string[];
    grantTypeAllowed(type: string): boolean;
  }

  export interface KoaContextWithOIDC {
    path: string;
    method: string;
    status: number;
    body: unknown;
    type: string;
    ip: string;
    req: IncomingMessage;
    get(name: string): string;
    oidc: {
      route?: string;
      client?: ClientLike;
      params?: Record<string, unknown>;
      entities: Record<string, unknown>;
      session?: { accountId?: string };
    };
  }

  export type Configuration = Record<string, unknown> & {
    findAccount?: (
      ctx: KoaContextWithOIDC,
      sub: string,
    ) =>
      | Promise<{ accountId: string; claims: () => Promise<Record<string, unknown>> | Record<string, unknown> } | undefined>
      | { accountId: string; claims: () => Promise<Record<string, unknown>> | Record<string, unknown> }
      | undefined;
  };

  export interface InteractionDetails {
    uid: string;
    prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
    params: Record<string, unknown>;
    session?: { accountId: string };
    grantId?: string;
  }

  export class GrantModel {
    constructor(props: { accountId: string; clientId: string });
    addOIDCScope(scope: string): void;
    addResourceScope(resource: string, scope: string): void;
    rejectResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  export type ProviderGrant = GrantModel;

  export class Provider {
    constructor(issuer: string, configuration: Configuration);
    static readonly ctx: KoaContextWithOIDC | undefined;
    proxy: boolean;
    readonly Grant: typeof GrantModel & { find(id: string): Promise<GrantModel | undefined> };
    readonly Client: { find(id: string): Promise<ClientLike | undefined> };
    use(middleware: (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void>): void;
    on(event: string, listener: (ctx: KoaContextWithOIDC, ...args: never[]) => void): this;
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: Record<string, unknown>,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
  }

  export const errors: {
    InvalidTarget: new (description?: string) => Error;
    InvalidRequest: new (description?: string) => Error;
  };

  export const interactionPolicy: {
    base(): { get(name: string): { checks: { remove(name: string): void } } | undefined };
  };

  export default Provider;
}
