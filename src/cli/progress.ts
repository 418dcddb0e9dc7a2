// Progress on stderr (DESIGN §10: anything longer than a second): a redrawn bar on a
// terminal, an occasional line otherwise (CI logs).

export function progressReporter(label: string): { update: (done: number, total: number) => void; end: () => void } {
  const tty = process.stderr.isTTY === true;
  const t0 = performance.now();
  let last = 0;
  return {
    update(done, total) {
      const now = performance.now();
      if (now - t0 < 1000 || (now - last < (tty ? 100 : 5000) && done < total)) return;
      last = now;
      const width = 30;
      const filled = Math.round((width * Math.min(done, total)) / Math.max(total, 1));
      const text = `${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} runs, ${((now - t0) / 1000).toFixed(1)} s`;
      process.stderr.write(tty ? `\r${text}` : `${text}\n`);
    },
    end() {
      if (tty && performance.now() - t0 >= 1000) process.stderr.write('\n');
    },
  };
}
