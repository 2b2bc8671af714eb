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
  /** The last rowid of `agents` and of `group_identity` whose serials are in `issued` (rows are never deleted). */
  private agentsSeen = 0;
  private groupsSeen = 0;
  private supersededSeen = 0;
  private readonly insert;
  private readonly list;
  private readonly one;

  constructor(private readonly db: Database.Database, private readonly extraSerials: readonly string[], private readonly now: () => number) {
    migrate(db, 'revocation', MIGRATIONS);
    this.insert = db.prepare('INSERT OR IGNORE INTO revoked_serials (serial, revoked_at) VALUES (?, ?)');
    this.list = db.prepare('SELECT serial FROM revoked_serials ORDER BY revoked_at, serial');
    this.one = db.prepare('SELECT 1 FROM revoked_serials WHERE serial = ?');
  }

  /**
   * Adds the serials of the certificates issued since the last refresh. Only those: an unknown
   * serial (anyone may ask `/pki/ocsp/<serial>` without logging in) once re-parsed every
   * certificate the gateway ever issued, a cost that grew with each registration.
   */
  private refresh(): void {
    for (const s of this.extraSerials) this.add(s);
    const agents = this.db.prepare('SELECT rowid AS id, cert_pem FROM agents WHERE rowid > ? ORDER BY rowid').all(this.agentsSeen) as { id: number; cert_pem: string }[];
    for (const { id, cert_pem } of agents) {
      this.add(new X509Certificate(cert_pem).serialNumber);
      this.agentsSeen = id;
    }
    // Certificates a renewal or a rekey replaced (their agents row now holds the new one).
    const superseded = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'superseded_certs'").get();
    if (superseded) {
      const rows = this.db.prepare('SELECT rowid AS id, serial FROM superseded_certs WHERE rowid > ? ORDER BY rowid').all(this.supersededSeen) as { id: number; serial: string }[];
      for (const { id, serial } of rows) {
        this.add(serial);
        this.supersededSeen = id;
      }
    }
    const groups = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'group_identity'").get();
    if (!groups) return;
    const named = this.db.prepare('SELECT rowid AS id, cert_sn FROM group_identity WHERE rowid > ? ORDER BY rowid').all(this.groupsSeen) as { id: number; cert_sn: string }[];
    for (const { id, cert_sn } of named) {
      this.add(cert_sn);
      this.groupsSeen = id;
    }
  }

  /** A certificate just issued: known now, also when it replaced another in place (refresh() reads only new rows). */
  noteIssued(serial: string): void {
    this.add(serial);
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

  /** True when this serial (either form) was revoked; one indexed read, never a certificate parse. */
  isRevoked(serial: string): boolean {
    const m = minimalSerial(serial);
    return m !== null && this.one.get(m) !== undefined;
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
