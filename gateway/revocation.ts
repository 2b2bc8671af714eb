// Certificate status for `/pki/crl.json` and `/pki/ocsp/<serial>` (spec groups-and-more §6): the
// serials this gateway issued (agents, named groups, the auth service) are `good` unless revoked
// through the admin API; anything else is `unknown`. Serials are compared in minimal hex, so the
// browser SDK's DER-bytes form (leading `00` kept) and the Python SDK's minimal form both match,
// and the CRL lists every revoked serial in both forms.
//
// Reads the auth service's `agents` and the group service's `group_identity` tables directly.

import { X509Certificate } from 'node:crypto';
import type Database from 'better-sqlite3';
import { migrate } from './db.ts';

const MIGRATIONS = [
  `CREATE TABLE revoked_serials (
     serial TEXT PRIMARY KEY,
     revoked_at INTEGER NOT NULL
   )`,
];

/** How long a client may cache an answer, seconds. */
const NEXT_UPDATE_S = 300;
const SERIAL = /^[0-9a-f]{1,128}$/;

export type CertStatus = 'good' | 'revoked' | 'unknown';

/** Lower-case hex without leading zeros ("0" for zero); null when not hex. */
export function minimalSerial(serial: string): string | null {
  const s = serial.trim().toLowerCase();
  if (!SERIAL.test(s)) return null;
  return s.replace(/^0+/, '') || '0';
}

/** The DER INTEGER bytes as hex: even length, `00` in front when the high bit is set. */
export function derSerial(minimal: string): string {
  const even = minimal.length % 2 ? '0' + minimal : minimal;
  return parseInt(even[0]!, 16) >= 8 ? '00' + even : even;
}

export class Revocation {
  private readonly issued = new Set<string>();
  private readonly insert;
  private readonly list;
  private readonly one;

  constructor(private readonly db: Database.Database, private readonly extraSerials: readonly string[], private readonly now: () => number) {
    migrate(db, 'revocation', MIGRATIONS);
    this.insert = db.prepare('INSERT OR IGNORE INTO revoked_serials (serial, revoked_at) VALUES (?, ?)');
    this.list = db.prepare('SELECT serial FROM revoked_serials ORDER BY revoked_at, serial');
    this.one = db.prepare('SELECT 1 FROM revoked_serials WHERE serial = ?');
  }

  private refresh(): void {
    this.issued.clear();
    for (const s of this.extraSerials) this.add(s);
    for (const { cert_pem } of this.db.prepare('SELECT cert_pem FROM agents').all() as { cert_pem: string }[]) {
      this.add(new X509Certificate(cert_pem).serialNumber);
    }
    const groups = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'group_identity'").get();
    if (groups) for (const { cert_sn } of this.db.prepare('SELECT cert_sn FROM group_identity').all() as { cert_sn: string }[]) this.add(cert_sn);
  }

  private add(serial: string): void {
    const m = minimalSerial(serial);
    if (m) this.issued.add(m);
  }

  status(serial: string): CertStatus {
    const m = minimalSerial(serial);
    if (!m) return 'unknown';
    if (this.one.get(m)) return 'revoked';
    if (!this.issued.has(m)) this.refresh();
    return this.issued.has(m) ? 'good' : 'unknown';
  }

  /** Revokes a serial this gateway issued; false when it is not one of them. */
  revoke(serial: string): boolean {
    const m = minimalSerial(serial);
    if (!m || this.status(m) === 'unknown') return false;
    this.insert.run(m, this.now());
    return true;
  }

  nextUpdate(): number {
    return Math.floor(this.now() / 1000) + NEXT_UPDATE_S;
  }

  crl(): { revoked_serials: string[]; crl_pem: string; next_update: number } {
    const serials = (this.list.all() as { serial: string }[]).flatMap(({ serial }) => [...new Set([serial, derSerial(serial)])]);
    return { revoked_serials: serials, crl_pem: '', next_update: this.nextUpdate() };
  }

  ocsp(serial: string): { status: CertStatus; serial: string; next_update: number } {
    return { status: this.status(serial), serial: serial.toLowerCase(), next_update: this.nextUpdate() };
  }
}
