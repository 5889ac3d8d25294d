/* global module */
// The ES module @nestjs/core, as loaded by setup.mjs, for CommonJS packages under Jest.
module.exports = globalThis.__hospiaiEsmBridge['@nestjs/core'];
