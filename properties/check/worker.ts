// One worker thread of a campaign: runs the chunks it is sent and posts each outcome.

import { parentPort } from 'node:worker_threads';
import { propertyNamed, type ChunkJob } from './campaign.ts';
import { runChunk } from './suite.ts';
import { isPluginPath, loadPlugin } from '../../src/engines/plugin.ts';

parentPort!.on('message', (j: ChunkJob) => {
  // A plugin engine is loaded in each thread by its path (the main thread probed it already);
  // a rejection is an uncaught error of this thread, which the campaign reports.
  void (isPluginPath(j.engine) ? loadPlugin(j.engine) : Promise.resolve()).then(() =>
    parentPort!.postMessage(runChunk(propertyNamed(j.property), j.engine, j.bugs, j.k, j.seed, j.runs, j.timeoutMs, j.gen)),
  );
});
