// What the demo keeps per logged-in AID in localStorage: its contacts and how far each
// conversation was read. Every tab of the origin shares it; a `storage` event tells the others.

const PREFIX = 'aun-demo:';

export type ReadMarks = Record<string, number>;

function keyOf(aid: string, what: 'contacts' | 'read'): string {
  return `${PREFIX}${aid}:${what}`;
}

function load<T>(key: string, fallback: T, valid: (v: unknown) => v is T): T {
  try {
    const raw = localStorage.getItem(key);
    if (raw === null) return fallback;
    const v: unknown = JSON.parse(raw);
    return valid(v) ? v : fallback;
  } catch {
    return fallback;
  }
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isReadMarks = (v: unknown): v is ReadMarks =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'number');

export function loadContacts(aid: string): string[] {
  return load(keyOf(aid, 'contacts'), [], isStringList);
}

/** Adds one contact to what is stored (re-read first: another tab may have added one meanwhile). */
export function addContact(aid: string, peer: string): void {
  const contacts = loadContacts(aid);
  if (contacts.includes(peer)) return;
  contacts.push(peer);
  localStorage.setItem(keyOf(aid, 'contacts'), JSON.stringify(contacts));
}

export function loadReadMarks(aid: string): ReadMarks {
  return load(keyOf(aid, 'read'), {}, isReadMarks);
}

/** Raises one conversation's mark (another tab may have read further meanwhile). */
export function saveReadMark(aid: string, conversation: string, lsn: number): void {
  const marks = loadReadMarks(aid);
  if ((marks[conversation] ?? 0) >= lsn) return;
  marks[conversation] = lsn;
  localStorage.setItem(keyOf(aid, 'read'), JSON.stringify(marks));
}

/** Drops what the demo kept for an AID (when the identity is removed). */
export function forgetAid(aid: string): void {
  localStorage.removeItem(keyOf(aid, 'contacts'));
  localStorage.removeItem(keyOf(aid, 'read'));
}

/** Calls back when another tab changed this AID's contacts or read marks. */
export function watchStorage(currentAid: () => string | null, on: (what: 'contacts' | 'read') => void): void {
  window.addEventListener('storage', (ev: StorageEvent) => {
    const aid = currentAid();
    if (!aid || ev.storageArea !== localStorage) return;
    if (ev.key === keyOf(aid, 'contacts')) on('contacts');
    else if (ev.key === keyOf(aid, 'read')) on('read');
  });
}
