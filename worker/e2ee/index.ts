// The public surface of E2EE V2 (spec/e2ee-v2.md). Canonical JSON and the byte, base64, hex and
// PEM helpers live in protocol/ (canonical.ts, bytes.ts), shared with auth/, store/ and gateway/.

export * from '../../protocol/bytes.ts';
export { canonicalJson, canonicalJsonText } from '../../protocol/canonical.ts';
export * from './errors.ts';
export * from './keys.ts';
export { generatePrivateKey, importPrivateKey, privateKeyFromScalar } from './noble.ts';
export * from './primitives.ts';
export * from './metadata.ts';
export * from './state-commitment.ts';
export * from './envelope.ts';
export * from './spk.ts';
