/* global module, require, __dirname */
// Jest resolver: inside the CommonJS packages listed here, require('@nestjs/common')
// and require('@nestjs/core') resolve to bridges that return the ES modules already
// loaded by setup.mjs (see there why). Everything else resolves as usual.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a Jest resolver is a CommonJS module
const { join, sep } = require('node:path');

const CJS_PACKAGES_REQUIRING_NEST = [`${sep}@nestjs${sep}throttler${sep}`];
const BRIDGES = {
  '@nestjs/common': join(__dirname, 'nestjs-common.cjs'),
  '@nestjs/core': join(__dirname, 'nestjs-core.cjs'),
};

module.exports = (request, options) => {
  const bridge = BRIDGES[request];
  if (bridge && options.conditions && !options.conditions.includes('import') && CJS_PACKAGES_REQUIRING_NEST.some((p) => options.basedir.includes(p))) {
    return bridge;
  }
  return options.defaultResolver(request, options);
};
