// One worker thread of a campaign: runs the chunks it is sent and posts each outcome.

import { parentPort } from 'node:worker_threads';
import { propertyNamed, type ChunkJob } from './campaign.ts';
import { runChunk } from './suite.ts';

parentPort!.on('message', (j: ChunkJob) => {
  parentPort!.postMessage(runChunk(propertyNamed(j.property), j.engine, j.bugs, j.k, j.seed, j.runs, j.gen));
});
