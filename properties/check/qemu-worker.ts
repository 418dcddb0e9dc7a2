// One worker thread of a QEMU campaign (qemu-campaign.ts): runs the chunks it is sent.

import { parentPort } from 'node:worker_threads';
import { runQemuChunk, type QemuChunkJob } from './qemu-campaign.ts';

parentPort!.on('message', (j: QemuChunkJob) => parentPort!.postMessage(runQemuChunk(j)));
