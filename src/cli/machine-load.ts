// What the rest of the machine computed while `popek bench` timed something. The figures
// are wall clock on one core, and they are only comparable when the other cores are
// idle: on the 2-core machine this project is developed on, two native tight loops side
// by side ran at 52–75 M instr/s each against ~110 alone (shared caches, memory
// bandwidth, or a hypervisor running both virtual CPUs on one core: a VM does not say
// which). A campaign or a build on the other core looks exactly like a slower
// interpreter, so bench says so.

import { cpus } from 'node:os';

/** Above this many other CPUs busy on average, the figures are flagged. */
export const BUSY_THRESHOLD = 0.25;

function busyMs(): number {
  let ms = 0;
  for (const c of cpus()) ms += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return ms;
}

/**
 * Starts measuring; the returned function gives the average number of CPUs that other
 * processes kept busy since (this process's own threads, the JIT's and GC's included,
 * are subtracted). Tick-grained (10 ms), so meaningful for runs of a second or so.
 */
export function probeOtherLoad(): () => number {
  const busy0 = busyMs();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const wallMs = performance.now() - t0;
    const own = process.cpuUsage(own0);
    const otherMs = busyMs() - busy0 - (own.user + own.system) / 1000;
    return wallMs > 0 ? Math.max(0, otherMs / wallMs) : 0;
  };
}

/** The warning bench prints on stderr, or undefined when the machine was quiet enough. */
export function loadWarning(otherCpus: number): string | undefined {
  if (otherCpus <= BUSY_THRESHOLD) return undefined;
  return `bench: other processes kept ${otherCpus.toFixed(1)} of this machine's ${cpus().length} CPUs busy while it ran: the figures are lower than on an idle machine and not comparable with one`;
}
