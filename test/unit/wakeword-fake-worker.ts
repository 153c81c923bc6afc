/**
 * A stand-in for src/wakeword/worker.ts that speaks its protocol (workerData, the frame ring,
 * FromWorker/ToWorker) without models, to drive the host's failure paths. The behaviour is read
 * from workerData.featureModelDir (no models are loaded here):
 * - 'crash': ready, then an uncaught error at the first frame (as a model run that fails);
 * - 'stall': ready, then never finishes a frame (a worker far behind);
 * - 'load-fails': says its models did not load and ends, as worker.ts does.
 * The first two release on 'close' as worker.ts does.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FrameRing } from '../../src/wakeword/frame-ring.js';
import type { FromWorker, ToWorker, WorkerConfig } from '../../src/wakeword/worker.js';

const port = parentPort;
if (port === null) throw new Error('wakeword-fake-worker.js runs only as a worker');
// workerData is what WorkerHost built from this type (a structured clone of it).
const config = workerData as WorkerConfig;
const post = (m: FromWorker) => port.postMessage(m);
const mode = config.featureModelDir;
const frames = new FrameRing(config.ring);
if (mode === 'load-fails') {
  post({ type: 'load-failed', kind: 'model-missing', message: 'wake word: cannot read model /nope.onnx' });
  port.close();
} else {
  const closed = new Promise<void>((resolve) => {
    port.on('message', (m: ToWorker) => {
      if (m.type !== 'close') return;
      frames.close();
      resolve();
    });
  });
  post({ type: 'ready', keywords: config.models.map((_, i) => `fake${i}`) });
  if (mode === 'crash' && (await frames.next()) !== undefined) throw new Error('model run failed (fake)');
  // 'stall': the frames are never done(), so the ring fills; wait for close.
  await closed;
  post({ type: 'closed' });
  port.close();
}
