/* global module */
// The ES module @nestjs/common, as loaded by setup.mjs, for CommonJS packages under Jest.
module.exports = globalThis.__hospiaiEsmBridge['@nestjs/common'];
