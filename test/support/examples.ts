// Starting the MCP server examples (examples/*, compiled by `npm run build`)
// as child processes against a running service, and talking to them with the
// MCP SDK's client over Streamable HTTP.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort, REPO_ROOT, startService } from './harness.js';

export { REPO_ROOT };

export const EXAMPLES = ['fastmcp-ts', 'mcp-sdk'] as const;
export type ExampleName = (typeof EXAMPLES)[number];

export interface RunningChild {
  name: ExampleName;
  url: string;
  child: ChildProcess;
  /** What it wrote so far, standard output and error. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts `node examples/<name>/dist/server.js` and waits until it says it listens. */
export async function startExampleProcess(name: ExampleName, env: Record<string, string>): Promise<RunningChild> {
  const port = await freePort();
  const example = await startService({
    name,
    script: join(REPO_ROOT, 'examples', name, 'dist', 'server.js'),
    cwd: join(REPO_ROOT, 'examples', name),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    port,
    readyLine: 'listening on',
    timeoutMs: 20_000,
  });
  return {
    name,
    url: `${example.base}/mcp`,
    child: example.child,
    output: example.output,
    stop: () => example.stop(5000),
  };
}

/** An MCP SDK client connected to `url` with the token as bearer (no token: no Authorization header). */
export async function connectClient(url: string, token?: string): Promise<Client> {
  const client = new Client({ name: 'hospiai-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
  });
  await client.connect(transport);
  return client;
}

/** The text of a tool result's first content item. */
export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content[0]?.text ?? '';
}

/** Calls a tool; `{ok: false}` when the call is refused, whether by an exception or an error result. */
export async function tryCall(client: Client, name: string, args: Record<string, unknown>): Promise<{ ok: boolean; text: string }> {
  try {
    const result = await client.callTool({ name, arguments: args });
    return { ok: !result.isError, text: textOf(result) };
  } catch (error) {
    return { ok: false, text: error instanceof Error ? error.message : String(error) };
  }
}
