/**
 * The one place the suite imports TensorFlow.js from. `@tensorflow/tfjs`
 * (rather than tfjs-core alone) registers the gradient functions.
 *
 * tfjs and its backends print advice and re-registration warnings on
 * console.warn ("Hi, looks like you are running TensorFlow.js in Node.js",
 * "The kernel ... is already registered", "Platform node has already been
 * set"). They are noise for a command-line suite, so this module drops
 * exactly those messages and passes every other warning through.
 */
import * as tf from "@tensorflow/tfjs";

const NOISE = [
  /looks like you are running TensorFlow\.js in Node\.js/,
  /^={5,}$/,
  /is already registered/,
  /Platform node has already been set/,
  /has already been set\. Overwriting the platform/,
];

const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  const text = args.map(String).join(" ").trim();
  if (text === "" || NOISE.some((re) => re.test(text))) return;
  warn(...args);
};

export { tf };
