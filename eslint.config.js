import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  // client/src/openapi.ts is generated (npm run client:types), in openapi-typescript's own style.
  ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'client/dist/**', 'client/src/openapi.ts']
})
