import type { Store } from '../../src/store/types.ts';

/**
 * Holds the answer of the store's next channel edits once it has written them, until `release`: a test
 * lets other writes and reads answer first. `restore` puts the store's own method back.
 */
export function holdEditAnswers(store: Store): { written: Promise<void>; release(): void; restore(): void } {
  const editChannels = store.editChannels.bind(store);
  let written!: () => void;
  let release!: () => void;
  const wrote = new Promise<void>((resolve) => (written = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  store.editChannels = async (...args) => {
    const answer = await editChannels(...args);
    written();
    await released;
    return answer;
  };
  return { written: wrote, release: () => release(), restore: () => void (store.editChannels = editChannels) };
}
