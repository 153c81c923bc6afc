/**
 * A worker_threads entry for wakeword-worker.test.ts: the engine as the daemon will run it, off the
 * main thread, fed PCM chunks by message and posting each frame's scores back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { seededRandom } from '../../src/core/random.js';
import { WakeWordEngine } from '../../src/wakeword/engine.js';

const port = parentPort;
if (port === null) throw new Error('wakeword-worker-main.js runs only as a worker');
const { modelDir, keywords } = workerData as { modelDir: string; keywords: string[] };
const engine = await WakeWordEngine.create({
  featureModelDir: modelDir,
  keywords: keywords.map((k) => ({ path: `${modelDir}/${k}.onnx` })),
  random: seededRandom(0),
  log: pino({ level: 'silent' }),
});
// Chunks are handled one after another (feed is not re-entrant), in arrival order.
let chain = Promise.resolve();
port.on('message', (pcm: Int16Array | 'end') => {
  chain = chain.then(async () => {
    if (pcm === 'end') {
      await engine.close();
      port.postMessage({ done: true });
      return;
    }
    await engine.feed(pcm, (frame, scores) => port.postMessage({ frame, scores: Array.from(scores) }));
  });
});
port.postMessage({ ready: true });
