/**
 * The one place the suite imports TensorFlow.js from, for three things: the
 * `tf` namespace (`@tensorflow/tfjs-core`), every gradient and chained tensor
 * method (`x.add(y)`) registered, and the `cpu` and `wasm` backends, all on
 * one tfjs-core: the copy `deno install` puts in node_modules, which the
 * backends (and `lib/backend.ts`'s webgpu) register into.
 *
 * The registrations come from the registry, from TensorFlow.js's own
 * published file: the umbrella package's Node bundle,
 * `@tensorflow/tfjs/dist/tf.node.js`, which registers them while it
 * `require`s the same tfjs-core. tfjs-core publishes them only as ES modules
 * with extensionless imports, which Deno cannot load (nor with sloppy imports
 * or `require`), and its own bundles (`tf-core.node.js`, `tf-core.js`,
 * `tf-core.fesm.js`) leave them out; the umbrella's other bundles
 * (`tf.js`, `tf.fesm.js`) bring a second tfjs-core. Importing that one file by
 * its path keeps the umbrella's typings out of `deno check`. It also loads
 * layers, converter, data and webgl (which registers no backend outside a
 * browser): the suite uses none of them, and they make `deno install` about
 * 360 MB (from 116) and start-up about 0.2 s of CPU longer (`exp:echo3
 * --help`, median of 7: 0.25 s before, 0.46 s after).
 *
 * Not for: the webgpu backend (`lib/backend.ts` imports it only when asked,
 * as importing it registers a backend tfjs would prefer), `tfjs-node` (loaded
 * there when installed), nor a copy of any TensorFlow.js source in this
 * repository (`tests/repo/install_test.ts` fails on one).
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs/dist/tf.node.js";
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
