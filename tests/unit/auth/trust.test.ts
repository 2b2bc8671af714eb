import { describe, expect, it } from 'vitest';
import { AuthError } from '../../../protocol/errors.ts';
import { TrustStore } from '../../../worker/auth/trust.ts';
import { issue, makeRoot, tamperSignature } from './helpers.ts';

const DAY = 86_400_000;

async function pki() {
  const root = await makeRoot();
  const issuer = await issue(root, 'issuer.test', { ca: true });
  const leaf = await issue(issuer, 'alice.issuer.test');
  return { root, issuer, leaf };
}

/** A fetch that serves `bundle` at /pki/chain and counts calls. */
function chainServer(bundle: () => string) {
  const calls: string[] = [];
  const fetch = async (url: string) => {
    calls.push(url);
    return new Response(bundle(), { status: 200 });
  };
  return { fetch, calls };
}

describe('TrustStore.verifyChain', () => {
  it('accepts leaf → issuer CA → trusted root', async () => {
    const { root, issuer, leaf } = await pki();
    const cert = await new TrustStore([root.pem]).verifyChain(leaf.pem, [issuer.pem, root.pem]);
    expect(cert.subject).toBe('CN=alice.issuer.test');
  });

  it('rejects a chain that ends at a root we do not trust', async () => {
    const { root, issuer, leaf } = await pki();
    const other = await makeRoot('Other Root');
    await expect(new TrustStore([other.pem]).verifyChain(leaf.pem, [issuer.pem, root.pem]))
      .rejects.toThrow(/not a trusted root/);
  });

  it('rejects a self-signed look-alike of the trusted root (same name, other key)', async () => {
    const { root, issuer, leaf } = await pki();
    const twin = await makeRoot('Test Root');
    await expect(new TrustStore([twin.pem]).verifyChain(leaf.pem, [issuer.pem, root.pem])).rejects.toThrow(/not a trusted root/);
  });

  it('rejects an intermediate without basicConstraints CA:TRUE', async () => {
    const root = await makeRoot();
    for (const ca of [false, undefined]) {
      const notCa = await issue(root, 'issuer.test', { ca });
      const leaf = await issue(notCa, 'alice.issuer.test');
      await expect(new TrustStore([root.pem]).verifyChain(leaf.pem, [notCa.pem, root.pem])).rejects.toThrow(/chain element 0 "CN=issuer.test" is not a CA/);
    }
  });

  it('rejects expired and not-yet-valid certificates, allowing 300 s of skew', async () => {
    const { root, issuer } = await pki();
    const store = new TrustStore([root.pem]);
    const expired = await issue(issuer, 'old.issuer.test', { notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - 301_000) });
    await expect(store.verifyChain(expired.pem, [issuer.pem, root.pem])).rejects.toThrow(/"CN=old.issuer.test" expired/);
    const future = await issue(issuer, 'new.issuer.test', { notBefore: new Date(Date.now() + 301_000) });
    await expect(store.verifyChain(future.pem, [issuer.pem, root.pem])).rejects.toThrow(/not valid before/);
    const justExpired = await issue(issuer, 'skew.issuer.test', { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() - 200_000) });
    await expect(store.verifyChain(justExpired.pem, [issuer.pem, root.pem])).resolves.toBeDefined();
    const expiredCa = await issue(root, 'issuer.test', { ca: true, notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) });
    const leaf = await issue(expiredCa, 'alice.issuer.test');
    await expect(store.verifyChain(leaf.pem, [expiredCa.pem, root.pem])).rejects.toThrow(/chain element 0 .* expired/);
  });

  it('rejects a tampered signature anywhere on the path', async () => {
    const { root, issuer, leaf } = await pki();
    const store = new TrustStore([root.pem]);
    await expect(store.verifyChain(tamperSignature(leaf.pem), [issuer.pem, root.pem])).rejects.toThrow(/signature on certificate "CN=alice.issuer.test" does not verify/);
    await expect(store.verifyChain(leaf.pem, [tamperSignature(issuer.pem), root.pem])).rejects.toThrow(/signature on chain element 0/);
  });

  it('rejects broken links, a missing root and an empty chain, always as AuthError', async () => {
    const { root, issuer, leaf } = await pki();
    const stranger = await issue(root, 'stranger.test', { ca: true });
    const store = new TrustStore([root.pem]);
    await expect(store.verifyChain(leaf.pem, [stranger.pem, root.pem])).rejects.toThrow(/issued by "CN=issuer.test", not by the next chain element "CN=stranger.test"/);
    await expect(store.verifyChain(leaf.pem, [issuer.pem])).rejects.toThrow(/not a self-signed root/);
    await expect(store.verifyChain(leaf.pem, [])).rejects.toThrow(/chain is empty/);
    await expect(store.verifyChain('junk', [issuer.pem, root.pem])).rejects.toBeInstanceOf(AuthError);
  });

  it('needs at least one trusted root', () => {
    expect(() => new TrustStore([])).toThrow(/at least one trusted root/);
  });
});

describe('TrustStore.verifyLeaf', () => {
  it('fetches /pki/chain once per gateway and remembers verified leaves', async () => {
    const { root, issuer, leaf } = await pki();
    const server = chainServer(() => issuer.pem + '\n' + root.pem);
    const store = new TrustStore([root.pem], { fetch: server.fetch });
    await store.verifyLeaf(leaf.pem, 'http://gw.test');
    await store.verifyLeaf(leaf.pem, 'http://gw.test');
    const other = await issue(issuer, 'bob.issuer.test');
    await store.verifyLeaf(other.pem, 'http://gw.test');
    expect(server.calls).toEqual(['http://gw.test/pki/chain']);
  });

  it('does not let a different certificate with a cached serial through', async () => {
    const { root, issuer } = await pki();
    const store = new TrustStore([root.pem], { fetch: chainServer(() => issuer.pem + root.pem).fetch });
    const first = await issue(issuer, 'alice.issuer.test', { serial: '0777' });
    await store.verifyLeaf(first.pem, 'http://gw.test');
    await expect(store.verifyLeaf(tamperSignature(first.pem), 'http://gw.test')).rejects.toThrow(/does not verify/);
  });

  it('refetches the chain once when the cached one no longer fits (CA rotation)', async () => {
    const { root, issuer, leaf } = await pki();
    const rotated = await issue(root, 'issuer.test', { ca: true });
    let bundle = issuer.pem + root.pem;
    const server = chainServer(() => bundle);
    const store = new TrustStore([root.pem], { fetch: server.fetch });
    await store.verifyLeaf(leaf.pem, 'http://gw.test');
    bundle = rotated.pem + root.pem;
    const newLeaf = await issue(rotated, 'carol.issuer.test');
    await store.verifyLeaf(newLeaf.pem, 'http://gw.test');
    expect(server.calls).toHaveLength(2);
  });
});
