/**
 * A stand-in for src/wakeword/worker.ts that speaks its message protocol (FromWorker/ToWorker)
 * without models, to drive the host's failure paths: the behaviour is read from
 * workerData.featureModelDir (no models are loaded here):
 * - 'crash': ready, then an uncaught error at the first frame (a model run that fails);
 * - 'stall': ready, then never finishes a frame (a worker far behind);
 * - 'load-fails': says its models did not load and ends, as worker.ts does.
 * All of them release on 'close' as worker.ts does.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerConfig } from '../../src/wakeword/worker.js';

const port = parentPort;
if (port === null) throw new Error('wakeword-fake-worker.js runs only as a worker');
const config = workerData as WorkerConfig;
const post = (m: FromWorker) => port.postMessage(m);
const mode = config.featureModelDir;
if (mode === 'load-fails') {
  post({ type: 'load-failed', kind: 'model-missing', message: 'wake word: cannot read model /nope.onnx' });
  port.close();
} else {
  port.on('message', (m: ToWorker) => {
    if (m.type === 'close') {
      post({ type: 'closed' });
      port.close();
      return;
    }
    if (mode === 'crash') throw new Error('model run failed (fake)');
    // 'stall': the frame is never finished, so Atomics progress stays where it is.
  });
  post({ type: 'ready', keywords: config.models.map((_, i) => `fake${i}`) });
}
