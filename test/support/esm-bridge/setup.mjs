// Jest (native ESM mode, Node 20) cannot require() an ES module from a CommonJS
// package. @nestjs/throttler is CommonJS and requires @nestjs/common and
// @nestjs/core, which are ES modules since NestJS 12 (Node 20.19 itself loads
// them fine: require(esm)). Before each test file, the ES modules are loaded
// once here and handed, as the very same instances, to the CommonJS bridges
// that resolver.cjs substitutes for them in those packages.
import * as common from '@nestjs/common';
import * as core from '@nestjs/core';

globalThis.__hospiaiEsmBridge = { '@nestjs/common': common, '@nestjs/core': core };
