// Limits every incoming frame meets before it is parsed or reaches a handler, and the one way the
// gateway quotes client text back in an error, so no answer grows with what a client sent.

/** Deepest nesting of objects and arrays accepted in a frame (the spec sets none; AUN frames stay under 10). */
export const MAX_JSON_DEPTH = 64;

/** Longest piece of client text an error message or error data quotes. */
export const MAX_QUOTE_CHARS = 64;

/**
 * Whether `text` nests objects/arrays deeper than `max`. One linear pass over the raw text, no
 * recursion and no allocation, so a 20,000-deep frame costs what a flat one does; strings are
 * skipped (a bracket in a string does not count). Invalid JSON is left to JSON.parse.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/** A bounded, printable rendering of a client value for an error message. */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' || value === null ? String(value) : `<${Array.isArray(value) ? 'array' : typeof value}>`;
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > MAX_QUOTE_CHARS ? `${clean.slice(0, MAX_QUOTE_CHARS)}…(${clean.length} chars)` : clean;
}
