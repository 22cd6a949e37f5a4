// Deadlines: a call's deadline is honoured by its handler and handed on to the calls it makes,
// minus nothing (the network hop is part of the caller's budget).
import type { Deadline } from '@grpc/grpc-js';
import { DeadlineExceededError } from './errors';

/** The absolute deadline (ms since epoch) of a server call, or undefined when it has none. */
export function deadlineMs(deadline: Deadline): number | undefined {
  if (deadline instanceof Date) return deadline.getTime();
  return Number.isFinite(deadline) ? deadline : undefined;
}

/** Milliseconds left before `deadline` (Infinity without one). */
export function remainingMs(deadline: number | undefined, now = Date.now()): number {
  return deadline === undefined ? Infinity : deadline - now;
}

/** Throws DEADLINE_EXCEEDED when the deadline has passed: no point starting work. */
export function assertTimeLeft(deadline: number | undefined, what: string): void {
  if (remainingMs(deadline) <= 0)
    throw new DeadlineExceededError(`deadline exceeded before ${what}`);
}

/**
 * Deadline (ms since epoch) of an outgoing call made while serving one with `deadline`: the
 * earlier of the incoming deadline and now + `defaultTimeoutMs`.
 */
export function outgoingDeadline(deadline: number | undefined, defaultTimeoutMs: number): number {
  const fallback = Date.now() + defaultTimeoutMs;
  return deadline === undefined ? fallback : Math.min(deadline, fallback);
}
