import { useState } from 'preact/hooks';

/**
 * The busy flag and error of a button, form or dialog that calls the API. Every one of them used
 * to repeat "busy, clear the error, try, keep the error, not busy"; here it is once, so they all
 * disable their button and show the server's words the same way.
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  // A string is a check the page made itself before calling the API.
  const [error, setError] = useState<Error | string>();
  /**
   * Runs `work` while busy; its error is kept for the page to show. The previous error goes when
   * the work starts, unless `keepError` (it then stays until the outcome replaces it or the page
   * closes). Resolves to whether `work` succeeded.
   */
  const run = async (work: () => Promise<unknown>, options?: { keepError?: boolean }): Promise<boolean> => {
    setBusy(true);
    if (!options?.keepError) setError(undefined);
    try {
      await work();
      return true;
    } catch (e) {
      setError(e as Error);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}
