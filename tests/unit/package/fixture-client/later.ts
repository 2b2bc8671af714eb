// Loaded on a click: not part of connecting.
export function later(client: unknown): string {
  return `later: ${String(client)}`;
}
