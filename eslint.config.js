import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  // client/src/openapi.ts is generated (npm run client:types), in openapi-typescript's own style.
  // Build outputs (never in git) are not ours to lint: .tmp/ (the tests' compiled server), web/vendor/ (the page's client bundle).
  ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tmp/**', 'test-results/**', 'bench/results/**', 'web/vendor/**', 'client/dist/**', 'client/src/openapi.ts']
})
