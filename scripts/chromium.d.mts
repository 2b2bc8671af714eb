export function ensureChromium(options?: { install?: boolean }): string | null;
export const CHROMIUM_FLAGS: string[];
