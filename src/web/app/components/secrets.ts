import { useState } from 'preact/hooks';

/** Which secrets of a list are shown in clear; each is hidden until its Reveal is pressed. */
export function useRevealed() {
  const [revealed, setRevealed] = useState<ReadonlySet<string>>(new Set());
  const set = (secret: string, shown: boolean) =>
    setRevealed((prev) => {
      const next = new Set(prev);
      if (shown) next.add(secret);
      else next.delete(secret);
      return next;
    });
  return {
    isRevealed: (secret: string) => revealed.has(secret),
    toggle: (secret: string) => set(secret, !revealed.has(secret)),
    reveal: (secret: string) => set(secret, true),
  };
}

/**
 * Puts `text` on the clipboard; false when the browser refuses (plain http, permissions), so the
 * page can offer a manual copy instead.
 */
export async function copyToClipboard(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * A new enroll secret in the server's own format (24 random bytes, base64: 32 characters), so
 * secrets made in the console look like the ones setup and the API generate.
 */
export function newEnrollSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes));
}
