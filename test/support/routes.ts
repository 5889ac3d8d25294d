// The routes of the running app, read from Nest's metadata, with their access rule as the
// global guard reads it (used by the route snapshot and the access matrix).
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { ACCESS_RULE } from '../../src/access/access.decorator.js';
import { describeRule, type AccessRule } from '../../src/access/access.policy.js';
import type { TestApp } from './test-app.js';

export interface RouteEntry {
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
export function discoverRoutes(t: TestApp): RouteEntry[] {
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
