// The `type` of an E2EE V2 envelope (spec/e2ee-v2.md §3): the worker writes it, the gateway checks
// it, and a plaintext payload never carries one of these.

export const P2P_ENVELOPE_TYPE = 'e2ee.p2p_encrypted';
export const GROUP_ENVELOPE_TYPE = 'e2ee.group_encrypted';
