// Every route of the running app with who may call it. A change of access
// changes the snapshot, so that it shows up in review.
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import type { HTTPMethods } from 'fastify';
import { ACCESS_RULE } from '../../src/auth/access.decorator.js';
import { describeRule, type AccessRule } from '../../src/auth/access.policy.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

interface RouteEntry {
  method: string;
  path: string;
  access: string;
}

function joinPath(...parts: Array<string | undefined>): string {
  const joined = parts
    .filter((p): p is string => p !== undefined && p !== '' && p !== '/')
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .join('/');
  return `/${joined}`;
}

const asList = (v: string | string[] | undefined): Array<string | undefined> => (Array.isArray(v) ? v : [v]);

/** The routes of the app's controllers, read from Nest's metadata, with their access rule as the global guard reads it. */
function discoverRoutes(t: TestApp): RouteEntry[] {
  const discovery = new DiscoveryService(t.app.get(ModulesContainer));
  const reflector = t.app.get(Reflector);
  const scanner = new MetadataScanner();
  const routes: RouteEntry[] = [];
  for (const wrapper of discovery.getControllers()) {
    const controller = wrapper.metatype as (new (...args: never[]) => unknown) | undefined;
    if (!controller || !wrapper.instance) continue;
    const prototype = Object.getPrototypeOf(wrapper.instance) as Record<string, unknown>;
    const controllerPaths = asList(Reflect.getMetadata(PATH_METADATA, controller));
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[name] as (...args: unknown[]) => unknown;
      const methodPath = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
      if (methodPath === undefined) continue;
      const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
      const rule = reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_RULE, [handler, controller]);
      for (const base of controllerPaths) {
        for (const path of asList(methodPath)) {
          routes.push({ method, path: joinPath(base, path), access: describeRule(rule) });
        }
      }
    }
  }
  return routes;
}

describe('routes', () => {
  let t: TestApp;
  let routes: RouteEntry[];
  beforeAll(async () => {
    t = await startTestApp();
    routes = discoverRoutes(t);
  });
  afterAll(async () => {
    await t.close();
  });

  it('match the snapshot of every route and its access rule', () => {
    const lines = routes.map((r) => `${r.method} ${r.path} → ${r.access}`).sort();
    expect(lines.length).toBeGreaterThanOrEqual(9);
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines).toMatchSnapshot();
  });

  it('are all served by the HTTP server', () => {
    const fastify = t.app.getHttpAdapter().getInstance();
    const missing = routes.filter((r) => !fastify.hasRoute({ method: r.method as HTTPMethods, url: r.path }));
    expect(missing).toEqual([]);
  });

  it('all carry an access rule', () => {
    const denied = routes.filter((r) => r.access === 'DENIED (no access rule)' || r.access === 'DENIED (empty rule)');
    expect(denied).toEqual([]);
  });
});
