// `popek check --stats` (issue 20 items 4 and 7): the engine-side tags are reached, and
// every tag the table prints says what it means (issue 14.10).

import { expect, test } from 'vitest';
import { caseStats, formatStats, TAG_MEANINGS } from './stats.ts';

test('on the smallest host both VMX engines reach their thrashing fallback in at least 5 % of cases', () => {
  const s = caseStats(60, 20261125);
  const pct = (tag: string) => s.tags.find((t) => t.tag === tag)?.percent ?? 0;
  expect([pct('thrash-fallback:vmx-shadow'), pct('thrash-fallback:vmx-ept')].map((p) => p >= 5)).toEqual([true, true]);
  expect(s.tags.filter((t) => t.tag.startsWith('engine-crashed:'))).toEqual([]);
  expect(s.tags.filter((t) => TAG_MEANINGS[t.tag] === undefined).map((t) => t.tag)).toEqual([]);
  expect(formatStats(s)).toMatch(/thrash-fallback:vmx-shadow +\d+\.\d % {2}on the smallest host/);
});
