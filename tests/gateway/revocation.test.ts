// The certificate status service (/pki/ocsp/<serial>, spec groups-and-more §6): anyone may ask
// about any serial without logging in, so an unknown serial must cost the gateway only the
// certificates issued since the last look, not a re-read of every certificate it ever issued.

import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MEMORY, openDatabase } from '../../gateway/db.ts';
import { loadPki } from '../../gateway/pki.ts';
import { Revocation } from '../../gateway/revocation.ts';

describe('Revocation', () => {
  it('an unknown serial reads only the certificates issued since the last look', async () => {
    const db = openDatabase(MEMORY);
    const pki = await loadPki(db, 'aun.local');
    db.exec('CREATE TABLE IF NOT EXISTS agents (aid TEXT PRIMARY KEY, cert_pem TEXT NOT NULL, public_key TEXT NOT NULL, created_at INTEGER NOT NULL)');
    const insert = db.prepare('INSERT INTO agents (aid, cert_pem, public_key, created_at) VALUES (?, ?, ?, 0)');
    const issue = async (i: number) => {
      const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
      const pem = await pki.issueAgent(`a${i}.aun.local`, spki);
      insert.run(`a${i}.aun.local`, pem, spki.toString('base64'));
      return new X509Certificate(pem).serialNumber;
    };
    const first = await issue(1);
    const r = new Revocation(db, [], () => Date.now());
    expect(r.status(first)).toBe('good');
    expect(r.status('abc123')).toBe('unknown');
    // Rows already read are not parsed again: made unreadable, they change nothing.
    db.prepare('UPDATE agents SET cert_pem = ?').run('not a certificate');
    expect(r.status('abc124')).toBe('unknown');
    expect(r.status(first)).toBe('good');
    // A certificate issued later is found.
    const later = await issue(2);
    expect(r.status(later)).toBe('good');
    db.close();
  });
});
