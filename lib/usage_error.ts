/**
 * The error of a bad command line or a run that cannot be done here, on its
 * own so that any module (the kernels' limits included) can raise it without
 * importing the CLI. Not the parsing itself: that is `lib/cli.ts`.
 */

/** A bad command line: the message is one line naming the flag and what is allowed. */
export class UsageError extends Error {}
