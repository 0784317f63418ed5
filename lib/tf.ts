/**
 * The one place the suite imports TensorFlow.js from: `@tensorflow/tfjs-core`,
 * its gradient functions and chained tensor methods (`x.add(y)`, registered by
 * the generated `lib/tfjs_registrations.js`), and the `cpu` and `wasm`
 * backends. The umbrella package `@tensorflow/tfjs` would add layers, the
 * converter, webgl, data and core-js, none of which the suite uses (about
 * 300 MB of `node_modules`). `lib/backend.ts` loads `@tensorflow/tfjs-node`
 * and `-node-gpu` when they are installed.
 */
import * as tf from "@tensorflow/tfjs-core";
import "./tfjs_registrations.js";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";

export { tf };

/**
 * `tf.variable(initial)` that frees `initial`: a variable holds its own
 * reference to the data, so the tensor it was made from would otherwise stay
 * allocated (a GPU buffer on webgpu) after the variable is disposed.
 */
export function variableFrom(initial: tf.Tensor, trainable: boolean): tf.Variable {
  const v = tf.variable(initial, trainable);
  initial.dispose();
  return v;
}

/**
 * Messages tfjs and its backends print on console.warn that are noise for a
 * command-line suite: the advice "Hi, looks like you are running
 * TensorFlow.js in Node.js" (framed by lines of "="), and re-registration
 * warnings when a native backend brings its own copy of tfjs ("The kernel ...
 * is already registered", "cpu backend was already registered", "Platform
 * node has already been set").
 */
const NOISE = [
  /looks like you are running TensorFlow\.js in Node\.js/,
  /^={5,}$/,
  /is already registered/,
  /backend was already registered/,
  /Platform node has already been set/,
  /has already been set\. Overwriting the platform/,
];

let quiet = false;

/**
 * Drops exactly the messages above from console.warn and passes
 * every other warning through. For command-line entry points (every
 * experiment calls it first); importing the suite leaves console.warn alone.
 * Calling it again changes nothing.
 */
export function quietTfjsWarnings(): void {
  if (quiet) return;
  quiet = true;
  const warn = console.warn.bind(console);
  console.warn = (...args: unknown[]) => {
    const text = args.map(String).join(" ").trim();
    if (text === "" || NOISE.some((re) => re.test(text))) return;
    warn(...args);
  };
}
