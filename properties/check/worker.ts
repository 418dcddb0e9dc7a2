// One worker thread of a campaign: runs the chunks it is sent and posts each outcome; or
// of `popek mutants`: runs the bugs' campaigns it is sent and posts each result.

import { parentPort } from 'node:worker_threads';
import { propertyNamed, type ChunkJob } from './campaign.ts';
import { runMutant, type MutantJob } from './mutants.ts';
import { runChunk } from './suite.ts';
import { isPluginPath, loadPlugin } from '../../src/engines/plugin.ts';

parentPort!.on('message', (j: ChunkJob | MutantJob) => {
  if ('mutant' in j) {
    const { bug, engine, seed, maxRuns } = j.mutant;
    void runMutant(bug, engine, { seed, maxRuns }).then((r) => parentPort!.postMessage(r));
    return;
  }
  // A plugin engine is loaded in each thread by its path (the main thread probed it already);
  // a rejection is an uncaught error of this thread, which the campaign reports.
  void (isPluginPath(j.engine) ? loadPlugin(j.engine) : Promise.resolve()).then(() =>
    parentPort!.postMessage(runChunk(propertyNamed(j.property), j.engine, j.bugs, j.k, j.seed, j.runs, j.timeoutMs, j.gen)),
  );
});
