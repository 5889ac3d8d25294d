// Starting the MCP server examples (examples/*, compiled by `npm run build`)
// as child processes against a running service, and talking to them with the
// MCP SDK's client over Streamable HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const EXAMPLES = ['fastmcp-ts', 'mcp-sdk'] as const;
export type ExampleName = (typeof EXAMPLES)[number];

export interface RunningChild {
  name: ExampleName;
  url: string;
  child: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts `node examples/<name>/dist/server.js` and waits until it says it listens. */
export async function startExampleProcess(name: ExampleName, env: Record<string, string>): Promise<RunningChild> {
  const entry = join(REPO_ROOT, 'examples', name, 'dist', 'server.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run npm run build first`);
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    cwd: join(REPO_ROOT, 'examples', name),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${output.join('')}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString('utf8'));
      if (output.join('').includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => output.push(c.toString('utf8')));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}: ${output.join('')}`));
    });
  });
  return {
    name,
    url: `http://127.0.0.1:${port}/mcp`,
    child,
    output,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
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
