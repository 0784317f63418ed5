/**
 * One worker of lib/threads.ts: its own tfjs, backend and wasm instance, and
 * a {@linkcode LocalTrainer} for its block of seeds. Answers each request
 * with one `done` (its result) or `error` message; while training, with
 * progress asked for, it also posts its running means about ten times a
 * second and at each pass's last step.
 */
import { quietTfjsWarnings, tf } from "./tf.ts";
import { useBackend } from "./backend.ts";
import { LocalTrainer } from "./replicas.ts";
import type { Request, WorkerInfo } from "./threads.ts";
import type { OnStep } from "./train.ts";

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  postMessage(message: unknown): void;
};

let trainer: LocalTrainer | null = null;
let progress = false;

/** Reports of the running means, at most ten a second and always the last step; the replicas they are over. */
function reporter(weight: () => number): OnStep | undefined {
  if (!progress) return undefined;
  let last = 0;
  return (done, total, loss, accuracy) => {
    const now = performance.now();
    if (done < total && now - last < 100) return;
    last = now;
    scope.postMessage({ type: "step", done, total, loss, accuracy, weight: weight() });
  };
}

async function answer(request: Request): Promise<unknown> {
  switch (request.op) {
    case "init": {
      quietTfjsWarnings();
      await useBackend(request.backend);
      progress = request.progress;
      trainer = new LocalTrainer(request.cfg);
      return { parameters: trainer.parameters, recurrence: trainer.recurrence } satisfies WorkerInfo;
    }
    case "train":
      return await trainer!.train(reporter(() => trainer!.alive));
    case "test":
      return await trainer!.test(reporter(() => trainer!.replicas));
    case "check":
      return await trainer!.echoCheck(request.length);
    case "dispose":
      await trainer?.dispose();
      trainer = null;
      return tf.memory().numTensors;
  }
}

scope.onmessage = async (e) => {
  try {
    scope.postMessage({ type: "done", value: await answer(e.data) });
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    scope.postMessage({ type: "error", name: error.name, message: error.message });
  }
};
